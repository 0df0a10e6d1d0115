// A Fastify app behind riskgate (default router options). Listens on port 0 and
// prints `PORT n`.
const fastify = require("fastify")({ logger: false });
const seen = (handler) => async (req) =>
  ({ handler, risk: req.headers["x-risk-action"] ?? null, path: req.url });
fastify.post("/api/apply-coupon", seen("coupon"));
fastify.all("/api/redeem/*", seen("redeem"));
fastify.setNotFoundHandler((req, reply) => reply.code(404).send({ handler: null }));
fastify.listen({ port: 0, host: "127.0.0.1" }).then(() => {
  console.log(`PORT ${fastify.server.address().port}`);
});
