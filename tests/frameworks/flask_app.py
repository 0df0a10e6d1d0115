"""A Flask app served by gunicorn behind riskgate: the protected handlers say
whether they ran and which X-Risk-Action they saw."""
from flask import Flask, jsonify, request

app = Flask(__name__)


def seen(handler):
    return jsonify(handler=handler, risk=request.headers.get("X-Risk-Action"),
                   path=request.path)


@app.post("/api/apply-coupon")
def coupon():
    return seen("coupon")


@app.route("/api/redeem/<path:code>", methods=["GET", "POST"])
def redeem(code):
    return seen("redeem")


@app.errorhandler(404)
@app.errorhandler(405)
def other(e):
    return jsonify(handler=None), e.code
