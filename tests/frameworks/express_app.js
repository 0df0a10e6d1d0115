// An Express app behind riskgate (default settings: case-insensitive, non-strict
// routing). Listens on port 0 and prints `PORT n`.
const express = require("express");
const app = express();
const seen = (handler) => (req, res) =>
  res.json({ handler, risk: req.get("x-risk-action") ?? null, path: req.path });
app.post("/api/apply-coupon", seen("coupon"));
app.all("/api/redeem/*code", seen("redeem"));
app.use((req, res) => res.status(404).json({ handler: null }));
const server = app.listen(0, "127.0.0.1", () => {
  console.log(`PORT ${server.address().port}`);
});
