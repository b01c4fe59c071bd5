// Drives the browser plugin of a running sandbox from outside, as an agent
// and a Playwright script would:
//
//   node client.mjs mcp URL SANDBOX        the TypeScript MCP client: browser_* tools,
//                                          a screenshot received as image content
//   node client.mjs cdp PORT_URL TITLE     Playwright's connectOverCDP through the port
//                                          proxy reads the current page's title
//
// The token comes from VOLANT_TOKEN. A node_modules next to this file must hold
// @modelcontextprotocol/sdk and playwright-core. Prints "ok <mode>" at the end and
// exits non-zero with a message on the first failed check.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { chromium } from "playwright-core";

const [mode, ...rest] = process.argv.slice(2);
const headers = { Authorization: `Bearer ${process.env.VOLANT_TOKEN}` };

function check(cond, msg) {
  if (!cond) {
    console.error("FAIL: " + msg);
    process.exit(1);
  }
}

async function mcp(url, sandbox) {
  const client = new Client({ name: "volant-browser-ts-test", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  for (const want of ["browser_navigate", "browser_snapshot", "browser_click", "browser_take_screenshot"]) {
    check(names.includes(want), `tools/list lacks ${want}: ${names}`);
  }
  // Minutes under emulation: the SDK's default request timeout is 60 s.
  const opts = { timeout: 600000 };
  const res = await client.callTool({ name: "browser_take_screenshot", arguments: { sandbox_id: sandbox } }, undefined, opts);
  check(!res.isError, `browser_take_screenshot: ${JSON.stringify(res.content).slice(0, 500)}`);
  const img = res.content.find((c) => c.type === "image");
  check(img, `browser_take_screenshot answered no image content: ${JSON.stringify(res.content).slice(0, 500)}`);
  check(img.mimeType === "image/png", `image content of type ${img.mimeType}, want image/png`);
  const png = Buffer.from(img.data, "base64");
  check(png.subarray(1, 4).toString() === "PNG", "the image content is not a PNG");
  // The IHDR chunk holds the width and height.
  console.log(`screenshot ${png.readUInt32BE(16)}x${png.readUInt32BE(20)} ${png.length} bytes`);
  await client.close();
}

async function cdp(url, want) {
  const browser = await chromium.connectOverCDP(url, { headers, timeout: 600000 });
  const pages = browser.contexts().flatMap((c) => c.pages());
  const titles = await Promise.all(pages.map((p) => p.title()));
  console.log(`titles ${JSON.stringify(titles)}`);
  check(titles.includes(want), `no page has the title ${want}: ${JSON.stringify(titles)}`);
}

if (mode === "mcp") await mcp(rest[0], rest[1]);
else if (mode === "cdp") await cdp(rest[0], rest[1]);
else check(false, `usage: client.mjs mcp URL SANDBOX | cdp PORT_URL TITLE (got ${mode})`);
console.log(`ok ${mode}`);
process.exit(0);
