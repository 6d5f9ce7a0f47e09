// Official Camunda 7 Node external-task client (camunda-external-task-client-js) as a
// bench/worker contender. Driven by the Go command over stdin/stdout:
//
//   stdout "READY"                  client built, not polling yet
//   stdin  "GO"                     start polling
//   stdout "S <processInstanceId> <epoch ms>"  a handler started (ms with µs fraction from
//                                   performance.timeOrigin + performance.now())
//   stdout "C <epoch ms>"           the engine accepted a completion
//   stdout "F <n>"                  a poll locked n > 0 tasks
//   stdin  "STOP" or EOF            stop polling and exit
//
// Settings come from the environment (BENCH_*), set by the Go driver: the client's best
// settings for throughput and latency (maxTasks = maxParallelExecutions = P, long polling,
// small interval, no logger middleware, usePriority off like the other contenders).
import { Client } from "camunda-external-task-client-js";
import { performance } from "node:perf_hooks";
import readline from "node:readline";

const env = (name, def) => process.env[name] ?? def;
const baseUrl = env("BENCH_BASE_URL");
const topic = env("BENCH_TOPIC");
const parallel = Number(env("BENCH_PARALLEL", "32"));
const asyncResponseTimeout = Number(env("BENCH_ASYNC_MS", "20000"));
const interval = Number(env("BENCH_INTERVAL_MS", "0"));
const lockDuration = Number(env("BENCH_LOCK_MS", "60000"));
const workerId = env("BENCH_WORKER_ID", "bench-node");

if (!baseUrl || !topic) {
  console.error("BENCH_BASE_URL and BENCH_TOPIC are required");
  process.exit(2);
}

const now = () => (performance.timeOrigin + performance.now()).toFixed(3);

const client = new Client({
  baseUrl,
  workerId,
  maxTasks: parallel,
  maxParallelExecutions: parallel,
  asyncResponseTimeout,
  interval,
  lockDuration,
  usePriority: false,
  autoPoll: false,
});

client.on("poll:success", (tasks) => {
  if (tasks.length > 0) process.stdout.write(`F ${tasks.length}\n`);
});
client.on("poll:error", (e) => console.error("poll error:", e.message));
client.on("complete:error", (_task, e) => console.error("complete error:", e.message));

client.subscribe(topic, { lockDuration }, async ({ task, taskService }) => {
  process.stdout.write(`S ${task.processInstanceId} ${now()}\n`);
  await taskService.complete(task);
  process.stdout.write(`C ${now()}\n`);
});

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const cmd = line.trim();
  if (cmd === "GO") {
    client.start();
  } else if (cmd === "STOP") {
    client.stop();
    process.exit(0);
  }
});
rl.on("close", () => {
  client.stop();
  process.exit(0);
});

process.stdout.write("READY\n");
