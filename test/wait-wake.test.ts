// Issue 24: waits are woken by the WaitRoom Durable Object (src/durable/wait-room.ts) when a transition
// commits, and stay correct without it. Proves, through the worker's real handlers:
// - every transition path wakes a held GET ?wait (and MCP wait_for_decision): approve, reject and
//   cancel over REST, an approval from the console, a cancel over MCP, expiry and escalation by the
//   cron, the emergency bulk reject; an escalation and the first approval of two are events on the
//   stream while a ?wait keeps waiting;
// - a lost notification is recovered by the safety re-read, or at the wait's deadline, with the fresh
//   state; a notification recorded before the waiter attaches wakes it at once, even across a reset of
//   the room; a room that fails or lies degrades waits to the re-read without spinning, and undecided
//   never reads as approved.
// Rooms reset mid-wait, and the 500 approvals: test/wait-eviction.test.ts.
//
// A wait here is held with WAIT_RECHECK_SECONDS=55 and ?wait=30, so an answer within WAKE_MS of the
// transition can only come from the room; untilLeases() first makes sure every waiter has read the
// request (a wait takes its lease after its first read), so the transition happens while it waits.
// Resetting a room (runInDurableObject + state.abort()): see test/wait-eviction.test.ts.
import {
  createExecutionContext,
  createScheduledController,
  env,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { roomName } from "../src/domain/wait-room.ts";
import type { Bindings } from "../src/env.ts";
import worker from "../src/index.ts";
import type { WaitRoomNamespace, WaitRoomStub } from "../src/services/context.ts";
import { form, signIn } from "./helpers/console.ts";
import { testEnv, testSql } from "./helpers/database.ts";
import { call, postJson } from "./helpers/http.ts";
import { createTestKey, type TestKey } from "./helpers/keys.ts";
import { callTool, connectMcp } from "./helpers/mcp.ts";
import { fileRequest } from "./helpers/requests.ts";
import {
  approve,
  type HeldWait,
  listen,
  Network,
  REQUESTS,
  scene,
  settlesWithin,
  sleep,
  uniqueTenant,
  until,
  untilLeases,
  versionOf,
  waitOn,
} from "./helpers/waits.ts";

/** The safety re-read far above any wake-up these tests expect. */
const QUIET: Partial<Bindings> = { WAIT_RECHECK_SECONDS: "55" };
/** How long each held wait may last: far above WAKE_MS too. */
const HOLD_SECONDS = 30;
/** A wake-up pushed by the room answers well within this, on a busy machine. */
const WAKE_MS = 5000;

let admin: TestKey;

beforeAll(async () => {
  admin = await createTestKey("admin");
});

/** scene() with this file's admin, for policies. */
function sceneWith(policy?: Record<string, unknown>, filing?: Record<string, unknown>) {
  return scene({ admin, ...(policy && { policy }), ...(filing && { filing }) });
}

/**
 * Holds one ?wait per id (HOLD_SECONDS, QUIET) until all hold their lease, runs `transition`, and
 * returns each answer with how long after the transition returned it came.
 */
async function wakeAfter(
  key: TestKey,
  tenant: string,
  ids: readonly string[],
  transition: () => Promise<unknown>,
): Promise<(HeldWait & { after: number })[]> {
  const held = ids.map((id) => waitOn(key, id, HOLD_SECONDS, QUIET));
  await untilLeases(tenant, ids.length);
  await transition();
  const done = Date.now();
  return (await Promise.all(held)).map((answer) => ({ ...answer, after: answer.at - done }));
}

function expectWoken(answers: readonly (HeldWait & { after: number })[], status: string): void {
  for (const answer of answers) {
    expect(answer.status).toBe(200);
    expect(answer.body.status).toBe(status);
    expect(answer.after).toBeLessThan(WAKE_MS);
  }
}

/** Runs the cron (worker.scheduled) once at `clock`: the job's clock is max(now, scheduledTime). */
async function runCron(clock: number): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled(
    createScheduledController({ cron: "* * * * *", scheduledTime: clock }),
    testEnv(),
    ctx,
  );
  await waitOnExecutionContext(ctx);
}

const createdMs = async (id: string) => {
  const [row] = (await testSql()`SELECT (extract(epoch FROM created_at) * 1000)::float8 AS ms
    FROM approval_requests WHERE id = ${id}`) as { ms: number }[];
  return row?.ms ?? 0;
};

describe("every transition wakes a held ?wait at once (WAIT_RECHECK_SECONDS=55)", () => {
  it("an approval over REST", async () => {
    const { tenant, agent, approver, id } = await sceneWith();
    expectWoken(await wakeAfter(agent, tenant, [id, id], () => approve(approver, id)), "approved");
  });

  it("a rejection over REST", async () => {
    const { tenant, agent, approver, id } = await sceneWith();
    const answers = await wakeAfter(agent, tenant, [id], async () => {
      const res = await postJson(`${REQUESTS}/${id}/reject`, { notes: "not now" }, approver.headers);
      expect(res.status).toBe(200);
    });
    expectWoken(answers, "rejected");
  });

  it("a cancel over REST by the requester", async () => {
    const { tenant, agent, id } = await sceneWith();
    const answers = await wakeAfter(agent, tenant, [id], async () => {
      const res = await postJson(`${REQUESTS}/${id}/cancel`, { reason: "not needed" }, agent.headers);
      expect(res.status).toBe(200);
    });
    expectWoken(answers, "cancelled");
  });

  it("an approval from the console", async () => {
    const { tenant, agent, approver, id } = await sceneWith();
    const { cookie, csrf } = await signIn(approver);
    const answers = await wakeAfter(agent, tenant, [id], async () => {
      const res = await call(
        `/console/requests/${id}/decide`,
        form({ _csrf: csrf, decision: "approve", notes: "fine" }, cookie),
      );
      expect(res.status).toBe(200);
    });
    expectWoken(answers, "approved");
  });

  it("a cancel over MCP (MCP has no decision tool), and MCP wait_for_decision woken by an approval", async () => {
    const { tenant, agent, approver, id } = await sceneWith();
    const client = await connectMcp(agent.token, QUIET);
    try {
      const answers = await wakeAfter(agent, tenant, [id], async () => {
        const cancelled = await callTool(client, "cancel_request", { request_id: id, reason: "done" });
        expect(cancelled.isError, cancelled.text).toBe(false);
      });
      expectWoken(answers, "cancelled");

      const other = await fileRequest(agent, { tenant_id: tenant });
      const waiting = callTool(client, "wait_for_decision", {
        request_id: other,
        wait_seconds: HOLD_SECONDS,
      });
      await untilLeases(tenant, 1);
      await approve(approver, other);
      const approvedAt = Date.now();
      const answer = await waiting;
      expect(Date.now() - approvedAt).toBeLessThan(WAKE_MS);
      expect(answer.isError).toBe(false);
      expect(answer.text).toMatch(/^APPROVED/);
    } finally {
      await client.close();
    }
  });

  it("expiry by the cron", async () => {
    const { tenant, agent, id } = await sceneWith(undefined, { expires_in_seconds: 30 });
    // The cron's clock is past expires_at; the wall clock (the waiter's own deadline) is not.
    const clock = (await createdMs(id)) + 31_000;
    const answers = await wakeAfter(agent, tenant, [id], () => runCron(clock));
    expectWoken(answers, "expired");
  });

  it("the emergency bulk reject, across the tenant's rooms", async () => {
    const { tenant, agent, id } = await sceneWith();
    const ids = [id];
    for (let i = 0; i < 5; i++) ids.push(await fileRequest(agent, { tenant_id: tenant }));
    expect(new Set(ids.map((one) => roomName(tenant, one))).size).toBeGreaterThan(1);
    const answers = await wakeAfter(agent, tenant, ids, async () => {
      const res = await postJson(
        `${REQUESTS}/reject-pending`,
        { reason: "incident", tenant_id: tenant },
        admin.headers,
      );
      expect(res.status).toBe(200);
      expect(((await res.json()) as { rejected: number }).rejected).toBe(ids.length);
    });
    expectWoken(answers, "rejected");
  });

  it("escalation by the cron is not an end: a ?wait keeps waiting, the stream sends the escalated state, and the approval ends both", async () => {
    const { tenant, agent, approver, id } = await sceneWith({
      escalate_to: "oncall",
      escalation_timeout_seconds: 60,
    });
    const received = listen(new Network({ headers: agent.headers, overrides: QUIET }), id);
    try {
      await until("the first event", () => received.events.length === 1);
      const held = waitOn(agent, id, HOLD_SECONDS, QUIET);
      await untilLeases(tenant, 2);

      await runCron((await createdMs(id)) + 61_000);
      const escalatedAt = Date.now();
      await until("the escalated event", () => received.events.length === 2, WAKE_MS);
      expect(Date.now() - escalatedAt).toBeLessThan(WAKE_MS);
      expect(received.events[1]?.data.status).toBe("escalated");
      expect(received.events[1]?.id).toBe(String(await versionOf(id)));
      // The ?wait was woken too, read `escalated`, and went back to waiting.
      expect(await settlesWithin(held, 1000)).toBe("pending");

      await approve(approver, id);
      const approvedAt = Date.now();
      const answer = await held;
      expect(answer.body.status).toBe("approved");
      expect(answer.at - approvedAt).toBeLessThan(WAKE_MS);
      await until("the approved event", () => received.events.length === 3, WAKE_MS);
      expect(received.events.map((event) => event.data.status)).toEqual(["pending", "escalated", "approved"]);
    } finally {
      received.source.close();
    }
  });

  it("two approvals needed: the first is an event on the stream while a ?wait keeps waiting; the second ends both", async () => {
    const { tenant, agent, approver, id } = await sceneWith({ required_approvals: 2 });
    const second = await createTestKey("approver");
    const received = listen(new Network({ headers: agent.headers, overrides: QUIET }), id);
    try {
      await until("the first event", () => received.events.length === 1);
      const held = waitOn(agent, id, HOLD_SECONDS, QUIET);
      await untilLeases(tenant, 2);

      const first = await approve(approver, id);
      expect(first.status).toBe("pending");
      await until("the first approval's event", () => received.events.length === 2, WAKE_MS);
      expect(received.events[1]?.data).toMatchObject({ status: "pending", approvers: [expect.anything()] });
      expect(await settlesWithin(held, 1000)).toBe("pending");

      await approve(second, id);
      const approvedAt = Date.now();
      const answer = await held;
      expect(answer.body.status).toBe("approved");
      expect(answer.body.approvers).toHaveLength(2);
      expect(answer.at - approvedAt).toBeLessThan(WAKE_MS);
      await until("the approved event", () => received.events.length === 3, WAKE_MS);
      const version = await versionOf(id);
      expect(received.events.map((event) => event.id)).toEqual(
        [version - 2, version - 1, version].map(String),
      );
    } finally {
      received.source.close();
    }
  });
});

/** The wait room namespace wrapped: each attach first waits for `before` (a slow network to the room). */
function roomsAttachingAfter(before: Promise<void>): Bindings["WAIT_ROOM"] {
  const rooms: WaitRoomNamespace = {
    getByName(name): WaitRoomStub {
      const room = env.WAIT_ROOM.getByName(name);
      return {
        attach: async (requestId, version, timeoutMs) => {
          await before;
          return room.attach(requestId, version, timeoutMs);
        },
        notify: (changes) => room.notify(changes),
      };
    },
  };
  // The services use only getByName().attach/notify (WaitRoomNamespace); the binding's type is the
  // full Durable Object namespace.
  return rooms as unknown as Bindings["WAIT_ROOM"];
}

/** A wait room namespace whose every object answers `attach` with `answer` and counts the calls. */
function fakeRooms(answer: () => ReturnType<WaitRoomStub["attach"]>) {
  const calls = { attach: 0 };
  const rooms: WaitRoomNamespace = {
    getByName: () => ({
      attach: () => {
        calls.attach += 1;
        return answer();
      },
      notify: () => Promise.resolve(0),
    }),
  };
  // As above: the services see only WaitRoomNamespace.
  return { binding: rooms as unknown as Bindings["WAIT_ROOM"], calls };
}

const noRoom: Partial<Bindings> = { WAIT_ROOM: undefined as unknown as Bindings["WAIT_ROOM"] };

describe("a lost notification", () => {
  it("is recovered by the safety re-read (WAIT_RECHECK_SECONDS=1)", async () => {
    const { tenant, agent, approver, id } = await sceneWith();
    const held = waitOn(agent, id, HOLD_SECONDS, { WAIT_RECHECK_SECONDS: "1" });
    await untilLeases(tenant, 1);
    // Approved without the room binding: no notification is sent.
    await approve(approver, id, noRoom);
    const approvedAt = Date.now();
    const answer = await held;
    expect(answer.body.status).toBe("approved");
    expect(answer.at - approvedAt).toBeLessThan(4000);
  });

  it("is recovered at the wait's deadline at the latest, with the fresh state", async () => {
    const { tenant, agent, approver, id } = await sceneWith();
    const started = Date.now();
    const held = waitOn(agent, id, 3, QUIET);
    await untilLeases(tenant, 1);
    await approve(approver, id, noRoom);
    const answer = await held;
    // Not woken (nothing told the room), not re-read before the deadline (55 s), but read at it.
    expect(answer.body.status).toBe("approved");
    expect(answer.at - started).toBeGreaterThanOrEqual(2900);
    expect(answer.at - started).toBeLessThan(3000 + WAKE_MS);
  });

  it("recorded before the waiter attaches wakes it at once, even when the room was reset in between", async () => {
    for (const reset of [false, true]) {
      const { tenant, agent, approver, id } = await sceneWith();
      let arrive: () => void = () => undefined;
      const late = new Promise<void>((resolve) => {
        arrive = resolve;
      });
      // The waiter has read the pending request; its attach reaches the room only after the approval
      // was committed and notified.
      const held = waitOn(agent, id, HOLD_SECONDS, { ...QUIET, WAIT_ROOM: roomsAttachingAfter(late) });
      await untilLeases(tenant, 1);
      await approve(approver, id);
      if (reset) {
        await runInDurableObject(env.WAIT_ROOM.getByName(roomName(tenant, id)), (_room, state) => {
          state.abort("reset between the notification and the attach");
        }).catch(() => undefined);
      }
      arrive();
      const arrivedAt = Date.now();
      const answer = await held;
      expect(answer.body.status).toBe("approved");
      expect(answer.at - arrivedAt).toBeLessThan(WAKE_MS);
    }
  });

  it("the room itself: a recorded change answers an older waiter at once, from its storage after a reset too, and never goes back", async () => {
    const name = `room:${uniqueTenant()}:0`;
    const requestId = "apr_00000000000000aa";
    await env.WAIT_ROOM.getByName(name).notify([{ requestId, version: 3, status: "approved" }]);
    // Out of order: an older notification does not lower what the room knows.
    await env.WAIT_ROOM.getByName(name).notify([{ requestId, version: 2, status: "pending" }]);
    const started = Date.now();
    expect(await env.WAIT_ROOM.getByName(name).attach(requestId, 2, 30_000)).toEqual({
      changed: true,
      version: 3,
    });
    expect(Date.now() - started).toBeLessThan(1000);
    // A waiter that has seen the version waits, and times out unchanged.
    expect(await env.WAIT_ROOM.getByName(name).attach(requestId, 3, 200)).toEqual({ changed: false });

    await runInDurableObject(env.WAIT_ROOM.getByName(name), (_room, state) => {
      state.abort("reset");
    }).catch(() => undefined);
    expect(await env.WAIT_ROOM.getByName(name).attach(requestId, 1, 30_000)).toEqual({
      changed: true,
      version: 3,
    });
  });
});

describe("a room that fails or lies", () => {
  it("degrades waits to the safety re-read: they still wake, without spinning, and log wait_room_unavailable", async () => {
    const { tenant, agent, approver, id } = await sceneWith();
    const broken = fakeRooms(() => Promise.reject(new Error("Durable Object reset")));
    const warn = vi.spyOn(console, "log").mockImplementation(() => undefined);
    try {
      const held = waitOn(agent, id, HOLD_SECONDS, { WAIT_RECHECK_SECONDS: "1", WAIT_ROOM: broken.binding });
      await untilLeases(tenant, 1);
      await sleep(2000);
      await approve(approver, id);
      const approvedAt = Date.now();
      const answer = await held;
      expect(answer.body.status).toBe("approved");
      expect(answer.at - approvedAt).toBeLessThan(4000);
      // Two tries a period at most, then it sleeps the period out: about 2 s + the wake, not a spin.
      expect(broken.calls.attach).toBeLessThanOrEqual(12);
      const lines = warn.mock.calls.map(([line]) => String(line));
      expect(lines.some((line) => line.includes("wait_room_unavailable"))).toBe(true);
    } finally {
      warn.mockRestore();
    }
  });

  it("never makes an undecided request read as decided, nor holds a wait past its bound", async () => {
    const { agent, id } = await sceneWith();
    // A room that says at once, every time, that the request changed (a version the database never had).
    const lying = fakeRooms(() => Promise.resolve({ changed: true, version: 99 }));
    const started = Date.now();
    const answer = await waitOn(agent, id, 3, { WAIT_RECHECK_SECONDS: "1", WAIT_ROOM: lying.binding });
    expect(answer.body.status).toBe("pending");
    expect(answer.at - started).toBeGreaterThanOrEqual(2900);
    expect(answer.at - started).toBeLessThan(3000 + WAKE_MS);
    // Each wake is checked against the database once, then the period is slept out.
    expect(lying.calls.attach).toBeLessThanOrEqual(6);
  });
});
