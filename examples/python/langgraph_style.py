"""A LangGraph-style agent guarded by the Policy API, without langgraph: a tiny state machine whose
"transfer" node suspends (an interrupt) when the policy requires approval, persists the request id in a
checkpoint file, and resumes on a later invocation once the decision has arrived.

    npm run dev                                        # in another terminal
    python3 examples/python/langgraph_style.py         # plans, files, interrupts (exit 2)
    # approve it (console, Slack or: curl -X POST $API/api/v1/policy/requests/$ID/approve ...)
    python3 examples/python/langgraph_style.py         # resumes: transfers with the approved payload

Environment: POLICY_API_URL (default http://127.0.0.1:8000) and POLICY_AGENT_KEY (default the agent
key in .data/dev-keys.json). Options: --thread NAME, --state FILE, --wait SECONDS, --amount CENTS.
Exit 0 done, 2 interrupted (run again later), 1 refused (denied, rejected, expired, cancelled, ...).
"""

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Optional

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "sdk" / "python"))

from policy_api import PolicyClient, PolicyError, WaitTimeout  # noqa: E402

State = Dict[str, Any]


class Interrupt(Exception):
    """A node suspends the graph: the checkpoint is saved and a later invocation resumes the node."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Graph:
    """Nodes run in order; each takes the state and returns updates. The checkpoint (state + the next
    node) is written after every step, so a crash or an interrupt resumes where it stopped."""

    def __init__(self, nodes: "list[tuple[str, Callable[[State], State]]]", checkpoint: Path) -> None:
        self.nodes = nodes
        self.checkpoint = checkpoint

    def load(self, initial: State) -> "tuple[State, int]":
        if self.checkpoint.exists():
            saved = json.loads(self.checkpoint.read_text())
            return saved["state"], saved["next"]
        return dict(initial), 0

    def save(self, state: State, next_node: int) -> None:
        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        self.checkpoint.write_text(json.dumps({"state": state, "next": next_node}, indent=2))

    def invoke(self, initial: State) -> State:
        state, index = self.load(initial)
        while index < len(self.nodes):
            name, node = self.nodes[index]
            try:
                state.update(node(state))
            except Interrupt:
                self.save(state, index)  # the same node runs again on resume
                raise
            index += 1
            self.save(state, index)
        return state


def build(client: PolicyClient, checkpoint: Path, wait: float) -> Graph:
    def plan(state: State) -> State:
        print(f"[plan] pay invoice 7: {state['amount']} cents")
        return {"payload": {"amount": state["amount"], "memo": "invoice 7"}}

    def transfer(state: State) -> State:
        def on_filed(created: Dict[str, Any]) -> None:
            # Persist before waiting: a crash now still resumes this request rather than filing another.
            state["request_id"] = created["request_id"]
            graph.save(state, 1)
            print(f"[transfer] approval requested: {created['request_id']}")

        try:
            ok = client.authorize(
                "payments.transfer",
                "demo",
                state["payload"],
                agent_id="bot-1",
                justification="monthly invoice",
                wait_timeout=wait,
                request_id=state.get("request_id"),
                on_filed=on_filed,
            )
        except WaitTimeout:
            raise Interrupt(f"waiting for approval of {state['request_id']}")
        # The action: only here, and only with the payload the approvers approved.
        print(f"[transfer] {ok.decision}: sending {json.dumps(ok.payload, sort_keys=True)}")
        return {"transferred": ok.payload, "decision": ok.decision, "modified": ok.payload_modified}

    def report(state: State) -> State:
        print(f"[report] done: {json.dumps(state['transferred'], sort_keys=True)}")
        return {"done": True}

    graph = Graph([("plan", plan), ("transfer", transfer), ("report", report)], checkpoint)
    return graph


def agent_key() -> Optional[str]:
    if os.environ.get("POLICY_AGENT_KEY"):
        return os.environ["POLICY_AGENT_KEY"]
    keys = ROOT / ".data" / "dev-keys.json"
    return json.loads(keys.read_text()).get("agent") if keys.exists() else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--thread", default="invoice-7")
    parser.add_argument("--state", help="checkpoint file (default .data/langgraph-<thread>.json)")
    parser.add_argument("--wait", type=float, default=5.0, help="seconds to wait before interrupting")
    parser.add_argument("--amount", type=int, default=120)
    args = parser.parse_args()
    key = agent_key()
    if not key:
        print("set POLICY_AGENT_KEY or run npm run dev (it writes .data/dev-keys.json)", file=sys.stderr)
        return 1
    client = PolicyClient(os.environ.get("POLICY_API_URL", "http://127.0.0.1:8000"), key)
    checkpoint = Path(args.state) if args.state else ROOT / ".data" / f"langgraph-{args.thread}.json"
    graph = build(client, checkpoint, args.wait)
    try:
        graph.invoke({"amount": args.amount})
    except Interrupt as interrupt:
        print(f"[interrupt] {interrupt.reason}; run again to resume ({checkpoint})")
        return 2
    except PolicyError as error:
        # Refused for good: the action did not run. The reason is data a person wrote, shown as such.
        print(f"[refused] {type(error).__name__} {error.code}: reason={getattr(error, 'reason', None)!r}")
        checkpoint.unlink(missing_ok=True)
        return 1
    checkpoint.unlink(missing_ok=True)  # finished: the next invocation starts a new run
    return 0


if __name__ == "__main__":
    sys.exit(main())
