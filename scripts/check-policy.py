#!/usr/bin/env python3
"""The security promises of template.yaml, checked on the template itself:

- only the approval function (review-api) can send mail (SES) or read the mailbox send grant;
- only the drafting function (generate-draft) may call Bedrock, and only the model and guardrail
  the stack's parameters name;
- the audit table is append-only: every statement naming it allows dynamodb:PutItem and nothing else;
- no statement grants a wildcard resource (`*`, or an ARN ending in `*`);
- every queue has a dead-letter queue (or is one), and every dead-letter queue has an alarm;
- every function fed by SQS reports partial batch failures;
- only the webhook functions (which check every request's signature) may be invoked by anyone,
  and only through their function URL; every other invoke permission names its caller's ARN.

    python3 scripts/check-policy.py [template.yaml]     # prints one line per promise, exit 1 on a broken one
    python3 scripts/check-policy.py --self-test         # each check catches a template that breaks it

Run by scripts/test.sh. Reads the template with infra/emulator.py's CloudFormation YAML loader.
"""
import copy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "infra"))
from emulator import load_template  # noqa: E402

SENDER = "ReviewApiFunction"
DRAFTER = "GenerateDraftFunction"
# The Bedrock resources the drafting function may use: the parameters' model and guardrail.
BEDROCK_PARAMETERS = {"DraftingModel", "DraftingGuardrailId"}
# The functions whose every request must carry its sender's signature: the only ones that may
# have a public function URL (WebhookEndpoint=FunctionUrl).
PUBLIC_WEBHOOKS = {"CrmWebhookFunction", "ProposalWebhookFunction"}


def as_list(v):
    return v if isinstance(v, list) else [v]


def statements(fn: dict):
    for policy in fn.get("Properties", {}).get("Policies", []) or []:
        if not isinstance(policy, dict) or "Statement" not in policy:
            # A SAM policy template would hide its actions from these checks.
            yield {"Sid": "policy-template", "Action": ["*"], "Resource": [repr(policy)]}
            continue
        for st in as_list(policy["Statement"]):
            # A statement under a condition is checked as if the condition held.
            if isinstance(st, dict) and "Fn::If" in st:
                st = st["Fn::If"][1]
            if isinstance(st, dict) and "Action" in st:
                yield st


def names(value) -> set:
    """Logical ids a Ref / GetAtt / Sub in `value` names."""
    out = set()
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "Ref" and isinstance(v, str):
                out.add(v)
            elif k == "Fn::GetAtt":
                out.add(v[0] if isinstance(v, list) else str(v).split(".")[0])
            elif k == "Fn::Sub":
                text = v[0] if isinstance(v, list) else v
                import re
                out.update(m.split(".")[0] for m in re.findall(r"\$\{([^}]+)\}", text))
                if isinstance(v, list):
                    out |= names(v[1])
            else:
                out |= names(v)
    elif isinstance(value, list):
        for v in value:
            out |= names(v)
    return out


def text_of(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Sub" in value:
        v = value["Fn::Sub"]
        return v[0] if isinstance(v, list) else v
    return ""


def functions(t: dict) -> dict:
    return {k: r for k, r in t["Resources"].items()
            if r.get("Type") in ("AWS::Serverless::Function", "AWS::Lambda::Function")}


def check(t: dict) -> list:
    """(promise, problems) for each promise."""
    res = t["Resources"]
    fns = functions(t)
    results = []

    problems = []
    for name, fn in fns.items():
        for st in statements(fn):
            actions = [a.lower() for a in as_list(st.get("Action", []))]
            if name != SENDER and any(a.startswith("ses:send") or a in ("ses:*", "*") for a in actions):
                problems.append(f"{name} may send mail ({st.get('Sid')})")
            if name != SENDER and "MailboxSendSecret" in names(st.get("Resource")):
                problems.append(f"{name} may read the mailbox send grant ({st.get('Sid')})")
        env = fn.get("Properties", {}).get("Environment", {}).get("Variables", {})
        if name != SENDER and "MAILBOX_SEND_SECRET_ARN" in env:
            problems.append(f"{name} is given the send grant's secret")
    results.append(("only review-api can send mail or read the mailbox send grant", problems))

    problems = []
    for name, fn in fns.items():
        for st in statements(fn):
            actions = [a.lower() for a in as_list(st.get("Action", []))]
            if not any(a.startswith("bedrock:") or a == "*" for a in actions):
                continue
            if name != DRAFTER:
                problems.append(f"{name} may call Bedrock ({st.get('Sid')})")
            for r in as_list(st.get("Resource")):
                if not names(r) & BEDROCK_PARAMETERS:
                    problems.append(f"{name} {st.get('Sid')}: Bedrock on {text_of(r) or r}, not the drafting model or guardrail")
    results.append(("only generate-draft may call Bedrock, on the drafting model and guardrail only", problems))

    problems = []
    for name, fn in fns.items():
        for st in statements(fn):
            if "AuditTable" in names(st.get("Resource")):
                actions = sorted(as_list(st.get("Action", [])))
                if actions != ["dynamodb:PutItem"]:
                    problems.append(f"{name} {st.get('Sid')}: {actions} on the audit table")
    results.append(("the audit table is PutItem-only", problems))

    problems = []
    for name, fn in fns.items():
        for st in statements(fn):
            for r in as_list(st.get("Resource")):
                s = text_of(r) if not isinstance(r, str) else r
                if s == "*" or s.endswith("*"):
                    problems.append(f"{name} {st.get('Sid')}: resource {s}")
    results.append(("no wildcard resources", problems))

    problems = []
    queues = {k for k, r in res.items() if r.get("Type") == "AWS::SQS::Queue"}
    dlqs = set()
    for k, r in res.items():
        dlqs |= {q for q in names(r.get("Properties", {}).get("RedrivePolicy", {})) if q in queues}
        if r.get("Type") == "AWS::Serverless::Function":
            for ev in (r["Properties"].get("Events") or {}).values():
                dlqs |= {q for q in names(ev.get("Properties", {}).get("DeadLetterConfig", {})) if q in queues}
        for target in as_list(r.get("Properties", {}).get("Targets", [])):
            if isinstance(target, dict):
                dlqs |= {q for q in names(target.get("DeadLetterConfig", {})) if q in queues}
    alarmed = set()
    for r in res.values():
        if r.get("Type") == "AWS::CloudWatch::Alarm":
            for d in r["Properties"].get("Dimensions", []):
                if d.get("Name") == "QueueName":
                    alarmed |= names(d.get("Value"))
    for q in sorted(queues - dlqs):
        if "RedrivePolicy" not in res[q].get("Properties", {}):
            problems.append(f"queue {q} has no dead-letter queue")
    for q in sorted(dlqs - alarmed):
        problems.append(f"dead-letter queue {q} has no alarm")
    results.append((f"every queue has a DLQ and every DLQ an alarm ({len(queues - dlqs)} queues, {len(dlqs)} DLQs)", problems))

    problems = []
    for name, fn in fns.items():
        for ev_name, ev in (fn.get("Properties", {}).get("Events") or {}).items():
            if ev.get("Type") == "SQS" and "ReportBatchItemFailures" not in ev["Properties"].get("FunctionResponseTypes", []):
                problems.append(f"{name} {ev_name} fails whole batches")
    results.append(("SQS-fed functions report partial batch failures", problems))

    problems = []
    for k, r in res.items():
        props = r.get("Properties", {})
        if r.get("Type") == "AWS::Lambda::Url":
            target = names(props.get("TargetFunctionArn"))
            if props.get("AuthType") != "AWS_IAM" and not target <= PUBLIC_WEBHOOKS:
                problems.append(f"{k}: a public URL on {sorted(target)}")
        if r.get("Type") != "AWS::Lambda::Permission":
            continue
        target = names(props.get("FunctionName"))
        if props.get("Principal") == "*":
            via_url = (props.get("Action") == "lambda:InvokeFunctionUrl"
                       and props.get("FunctionUrlAuthType") == "NONE") or (
                props.get("Action") == "lambda:InvokeFunction"
                and props.get("InvokedViaFunctionUrl") is True)
            if not target <= PUBLIC_WEBHOOKS:
                problems.append(f"{k}: anyone may invoke {sorted(target)}")
            elif not via_url:
                problems.append(f"{k}: anyone may invoke {sorted(target)} other than through its URL")
        elif "SourceArn" not in props:
            problems.append(f"{k}: {props.get('Principal')} may invoke {sorted(target)} from any source")
    results.append(("only the webhook functions are public, and only through their URL", problems))
    return results


def report(t: dict) -> int:
    failed = 0
    for promise, problems in check(t):
        print(f"{'ok' if not problems else 'BROKEN'} - {promise}")
        for p in problems:
            print(f"    {p}")
        failed += bool(problems)
    return failed


def self_test(t: dict) -> int:
    assert all(not p for _, p in check(t)), "the shipped template keeps every promise"
    broken = []

    def mutate(change):
        t2 = copy.deepcopy(t)
        change(t2["Resources"])
        return [promise for promise, p in check(t2) if p]

    def add_statement(fn, st):
        def change(res):
            res[fn]["Properties"]["Policies"].append({"Statement": [st]})
        return change

    broken.append(mutate(add_statement("GenerateDraftFunction", {"Sid": "X", "Effect": "Allow", "Action": "ses:SendRawEmail", "Resource": "arn:aws:ses:eu-west-1:1:identity/a"})))
    broken.append(mutate(add_statement("CrmSyncFunction", {"Sid": "X", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": {"Ref": "MailboxSendSecret"}})))
    broken.append(mutate(add_statement("ReviewApiFunction", {"Sid": "X", "Effect": "Allow", "Action": "bedrock:InvokeModel", "Resource": {"Fn::Sub": "arn:aws:bedrock:${AWS::Region}::foundation-model/${DraftingModel}"}})))
    broken.append(mutate(add_statement("GenerateDraftFunction", {"Sid": "X", "Effect": "Allow", "Action": "bedrock:InvokeModel", "Resource": {"Fn::Sub": "arn:aws:bedrock:${AWS::Region}::foundation-model/anthropic.claude-v2"}})))
    broken.append(mutate(add_statement("CrmWebhookFunction", {"Sid": "X", "Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem"], "Resource": {"Fn::GetAtt": ["AuditTable", "Arn"]}})))
    broken.append(mutate(add_statement("SweepDueFunction", {"Sid": "X", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"})))

    def no_redrive(res):
        del res["CrmWriteQueue"]["Properties"]["RedrivePolicy"]
    broken.append(mutate(no_redrive))

    def no_alarm(res):
        del res["CrmWriteDLQAlarm"]
    broken.append(mutate(no_alarm))

    def whole_batches(res):
        res["CrmWritebackFunction"]["Properties"]["Events"]["Write"]["Properties"]["FunctionResponseTypes"] = []
    broken.append(mutate(whole_batches))

    def public_review(res):
        res["ReviewApiInvokePermission"]["Properties"]["Principal"] = "*"
        del res["ReviewApiInvokePermission"]["Properties"]["SourceArn"]
    broken.append(mutate(public_review))

    def direct_invoke(res):
        del res["CrmWebhookFunctionUrlInvokePermission"]["Properties"]["InvokedViaFunctionUrl"]
    broken.append(mutate(direct_invoke))
    expected = [
        "only review-api", "only review-api", "only generate-draft may call Bedrock",
        "only generate-draft may call Bedrock", "the audit table", "no wildcard",
        "every queue has a DLQ", "every queue has a DLQ", "SQS-fed functions",
        "only the webhook functions", "only the webhook functions",
    ]
    for got, want in zip(broken, expected):
        assert len(got) == 1 and got[0].startswith(want), (want, got)
    print(f"check-policy self-test: ok ({len(broken)} broken templates caught)")
    return 0


def main() -> int:
    args = sys.argv[1:]
    path = ROOT / "template.yaml"
    if args and args[0] != "--self-test":
        path = Path(args[0])
    t = load_template(path)
    if "--self-test" in args:
        return self_test(t)
    return 1 if report(t) else 0


if __name__ == "__main__":
    sys.exit(main())
