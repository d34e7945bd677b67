"""The Lambda entry point: handler name `asg_unhealthy.handler.handler`, subscribed to the SNS topic
the alarm notifies (the event is `Records[].Sns.Message`) or targeted by an EventBridge rule.

Options come from the function's environment: ASG_UNHEALTHY_DRY_RUN=1, ASG_UNHEALTHY_NO_GRACE=1,
ASG_UNHEALTHY_EXPECT_GROUP=NAME. Each result is printed as one JSON line (CloudWatch Logs) and
returned. An AWS error raises, so that Lambda retries the asynchronous invocation (acting twice is
harmless: an instance already Unhealthy is skipped); a malformed message does not (a retry would
not help)."""
from __future__ import annotations

import json
import os

from . import app
from . import messages as m


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def handler(event, context=None, *, clients=None):
    runner = app.Runner(clients or app.Clients(), dry_run=_flag("ASG_UNHEALTHY_DRY_RUN"),
                        no_grace=_flag("ASG_UNHEALTHY_NO_GRACE"),
                        expect_group=os.environ.get("ASG_UNHEALTHY_EXPECT_GROUP") or None)
    rid = getattr(context, "aws_request_id", None) or "event"
    results, rc = runner.handle([(rid, a) for a in m.alarms(event)])
    for r in results:
        print(json.dumps(r, separators=(",", ":")), flush=True)
    if rc == app.EXIT_API:
        raise RuntimeError("asg-unhealthy: AWS error: " + "; ".join(
            f"{r.get('instance')}: {r['reason']}" for r in results if r["result"] == "error"))
    return {"results": results}
