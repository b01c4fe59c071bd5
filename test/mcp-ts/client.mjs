// Drives volantd with the official TypeScript MCP client.
//
//   node client.mjs stdio VOLANTD STATE_DIR     spawns `VOLANTD mcp --state-dir STATE_DIR`
//   node client.mjs http  URL                   token from VOLANT_TOKEN
//
// NODE_PATH (or a node_modules next to this file) must hold @modelcontextprotocol/sdk.
// Exits non-zero with a message on the first failed check.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [mode, ...rest] = process.argv.slice(2);

function check(cond, msg) {
  if (!cond) {
    console.error("FAIL: " + msg);
    process.exit(1);
  }
}

function transport() {
  if (mode === "stdio") {
    const [volantd, stateDir] = rest;
    return new StdioClientTransport({ command: volantd, args: ["mcp", "--state-dir", stateDir], env: { ...process.env }, stderr: "inherit" });
  }
  if (mode === "http") {
    const headers = process.env.VOLANT_TOKEN ? { Authorization: `Bearer ${process.env.VOLANT_TOKEN}` } : {};
    return new StreamableHTTPClientTransport(new URL(rest[0]), { requestInit: { headers } });
  }
  check(false, `usage: client.mjs stdio VOLANTD STATE_DIR | http URL (got ${mode})`);
}

async function tool(client, name, args, opts) {
  const res = await client.callTool({ name, arguments: args }, undefined, opts);
  check(!res.isError, `${name}: ${JSON.stringify(res.content)}`);
  return res.structuredContent;
}

const client = new Client({ name: "volant-ts-test", version: "1.0.0" });
await client.connect(transport());

const { tools } = await client.listTools();
const names = tools.map((t) => t.name);
for (const want of ["sandbox_create", "sandbox_exec", "file_write", "file_read", "sandbox_delete"]) {
  check(names.includes(want), `tools/list lacks ${want}: ${names}`);
}

const sb = await tool(client, "sandbox_create", {});
check(typeof sb.id === "string" && sb.id !== "", `sandbox_create gave no id: ${JSON.stringify(sb)}`);
const id = sb.id;
try {
  // Exec with progress: the latest output line arrives as progress.
  const progress = [];
  const out = await tool(client, "sandbox_exec",
    { sandbox_id: id, cmd: ["sh", "-c", "for i in 1 2 3; do echo step $i; sleep 0.5; done"] },
    { onprogress: (p) => progress.push(p.message) });
  check(out.exit_code === 0 && out.stdout === "step 1\nstep 2\nstep 3\n", `exec: ${JSON.stringify(out)}`);
  check(progress.length > 0 && progress[progress.length - 1] === "step 3", `progress: ${JSON.stringify(progress)}`);

  // Cancel a long exec; the guest process must be gone afterwards.
  const ac = new AbortController();
  const long = client.callTool({ name: "sandbox_exec", arguments: { sandbox_id: id, cmd: ["sh", "-c", "echo $$ > /tmp/long.pid; exec sleep 1000"] } },
    undefined, { signal: ac.signal });
  let pid = "";
  while (pid === "") {
    const r = await tool(client, "sandbox_exec", { sandbox_id: id, cmd: ["sh", "-c", "cat /tmp/long.pid 2>/dev/null || true"] });
    pid = r.stdout.trim();
  }
  ac.abort();
  let aborted = false;
  try { await long; } catch { aborted = true; }
  check(aborted, "the aborted exec did not reject");
  for (;;) {
    const r = await tool(client, "sandbox_exec", { sandbox_id: id, cmd: ["sh", "-c", `kill -0 ${pid} 2>/dev/null && echo alive || echo gone`] });
    if (r.stdout.trim() === "gone") break;
    await new Promise((res) => setTimeout(res, 100));
  }

  // Files round trip, text and binary.
  await tool(client, "file_write", { sandbox_id: id, path: "/tmp/ts/hello.txt", content: "héllo from ts\n" });
  const rd = await tool(client, "file_read", { sandbox_id: id, path: "/tmp/ts/hello.txt" });
  check(rd.content === "héllo from ts\n", `file_read: ${JSON.stringify(rd)}`);
  const bin = Buffer.from([0, 1, 2, 255]).toString("base64");
  await tool(client, "file_write", { sandbox_id: id, path: "/tmp/ts/bin", content: bin, encoding: "base64" });
  const rb = await tool(client, "file_read", { sandbox_id: id, path: "/tmp/ts/bin", encoding: "base64" });
  check(rb.content === bin, `file_read base64: ${JSON.stringify(rb)}`);
} finally {
  await tool(client, "sandbox_delete", { sandbox_id: id });
}
const gone = await client.callTool({ name: "sandbox_get", arguments: { sandbox_id: id } });
check(gone.isError, "sandbox_get after delete is not an error");
await client.close();
console.log(`ok ${mode}`);
