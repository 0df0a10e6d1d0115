// Node's own HTTP server behind riskgate: answers with every header as received
// (rawHeaders keeps each name as sent). Listens on port 0 and prints `PORT n`.
const http = require("http");
const server = http.createServer((req, res) => {
  const headers = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    headers.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
  }
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify({ headers }));
});
server.listen(0, "127.0.0.1", () => {
  console.log(`PORT ${server.address().port}`);
});
