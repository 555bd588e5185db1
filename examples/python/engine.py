#!/usr/bin/env python3
"""A DAG engine in Python driving fastify-dag-stream through its HTTP engine API: standard library only.

It builds a small DAG, streams node states and text, opens a gate, waits for the human's decision on
its command feed, answers it, and completes (docs/any-engine.md has the same run as curl lines):

    python3 examples/python/engine.py --url http://localhost:3000/api/dags --dag py-run --token secret
"""
import argparse
import json
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid


class Engine:
    """One run: numbered batches (retried safely: the server applies a number once) and the command feed."""

    def __init__(self, url, dag_id, token):
        self.base = f"{url}/{dag_id}"
        self.headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
        self.producer = f"py-{uuid.uuid4().hex[:12]}"
        self.number = 0
        self.commands = queue.Queue()
        self.feed_key = None

    def post(self, path, body):
        request = urllib.request.Request(self.base + path, json.dumps(body).encode(), self.headers, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
            return json.loads(text) if text else None

    def send(self, *events):
        """Stores the events in order; a lost answer or a 5xx is retried with the same numbers."""
        numbered = []
        for event in events:
            self.number += 1
            numbered.append({**event, "n": self.number})
        for attempt in range(5):
            try:
                return self.post("/events", {"producer": self.producer, "events": numbered})["results"]
            except urllib.error.HTTPError as error:
                if error.code < 500:
                    raise RuntimeError(f"events refused: {error.read().decode()}") from error
            except urllib.error.URLError:
                pass
            time.sleep(0.2 * 2 ** attempt)
        raise RuntimeError("the server did not take the events")

    def open_feed(self):
        """Reads the command feed (Server-Sent Events) on a thread; commands go to self.commands."""
        request = urllib.request.Request(self.base + "/engine", headers={**self.headers, "accept": "text/event-stream"})
        response = urllib.request.urlopen(request)
        opened = threading.Event()

        def read():
            kind, data = "message", []
            for raw in response:
                line = raw.decode().rstrip("\n")
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "" and data:
                    message = json.loads("\n".join(data))
                    if kind == "feed":
                        self.feed_key = message["feed"]
                        opened.set()
                    elif kind == "command":
                        self.commands.put(message)
                    kind, data = "message", []
            self.commands.put(None)  # the feed ended

        threading.Thread(target=read, daemon=True).start()
        opened.wait(10)

    def answer(self, command, ok=True, message=None):
        body = {"feed": self.feed_key, "id": command["id"], "ok": ok}
        if message is not None:
            body["message"] = message
        self.post("/engine", body)

    def wait_decision(self, gate_id):
        """The decision for `gate_id`; pause / resume are acknowledged meanwhile, cancel ends the run."""
        while True:
            command = self.commands.get()
            if command is None:
                raise SystemExit("the command feed ended")
            if command["type"] == "human_decision" and command.get("gate_id") == gate_id:
                return command
            if command["type"] == "cancel_execution":
                self.answer(command)
                self.send({"type": "execution_status", "status": "cancelled"})
                raise SystemExit("cancelled")
            if command["type"] == "human_decision":
                self.answer(command, False, "This gate is not open any more")
                continue
            self.answer(command)  # pause / resume: this engine pauses between steps
            status = "paused" if command["type"] == "pause_execution" else "running"
            self.send({"type": "execution_status", "status": status})


def run_node(engine, node, text, attempt=1):
    engine.send({"type": "node_state", "node_id": node, "status": "running", "attempt": attempt})
    for word in text.split(" "):
        engine.send({"type": "node_output_delta", "node_id": node, "delta": word + " "})
    engine.send({"type": "node_state", "node_id": node, "status": "completed", "output": text})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:3000/api/dags")
    parser.add_argument("--dag", default=f"py-{uuid.uuid4().hex[:8]}")
    parser.add_argument("--token", default="engine-secret")
    args = parser.parse_args()
    engine = Engine(args.url, args.dag, args.token)
    engine.open_feed()
    engine.send({"type": "execution_status", "status": "running"},
                {"type": "dag_mutated", "mutation": {"op": "set_graph",
                 "nodes": [{"id": "fetch", "label": "Fetch"}, {"id": "summarise", "label": "Summarise"},
                           {"id": "review", "label": "Review"}, {"id": "publish", "label": "Publish"}],
                 "edges": [{"from": "fetch", "to": "summarise"}, {"from": "summarise", "to": "review"},
                           {"from": "review", "to": "publish"}]}})
    run_node(engine, "fetch", "three articles fetched")
    attempt = 1
    while True:
        run_node(engine, "summarise", f"a summary of three articles, draft {attempt}", attempt)
        gate_id = f"review-{attempt}"
        engine.send({"type": "node_state", "node_id": "review", "status": "waiting_human"},
                    {"type": "human_gate_waiting", "node_id": "review", "gate_id": gate_id,
                     "presentation": {"title": "Publish this summary?", "decisions": ["approve", "reject"]}})
        print(f"waiting for a decision on {args.dag}", flush=True)
        decision = engine.wait_decision(gate_id)
        engine.answer(decision)
        engine.send({"type": "node_state", "node_id": "review", "status": "completed", "output": decision["decision"]})
        if decision["decision"] == "approve":
            break
        attempt += 1
    run_node(engine, "publish", "published")
    engine.send({"type": "execution_complete", "results": {"attempts": attempt}})
    print("completed", flush=True)


if __name__ == "__main__":
    main()
