// GET /docs: the Scalar API reference for /openapi.json, served entirely by this worker (no CDN, no
// external origin), so the page also works on a machine without internet.
//
// Scalar's standalone browser bundle (@scalar/api-reference, one self-contained 4.35 MB file) is a
// static asset (the [assets] block in wrangler.toml): scripts/build-assets.ts copies it into
// public/docs/assets/ under a name carrying the package version, so browsers may cache it for good
// (public/_headers), and the worker script stays small (docs/PERFORMANCE.md). Only the page is
// served from here, for its CSP hash of the inline initialisation.
import { version as scalarVersion } from "../../node_modules/@scalar/api-reference/package.json";
import { createRouter } from "../lib/openapi.ts";

const SCALAR_SCRIPT_PATH = `/docs/assets/scalar-api-reference-${scalarVersion}.js`;

/** Options for Scalar.createApiReference; everything after `url` keeps the page on this origin. */
const referenceConfiguration = {
  url: "/openapi.json",
  // The default fonts are @font-face rules pointing at fonts.scalar.com; use the system fonts instead.
  withDefaultFonts: false,
  // "Try it" would send cross-origin calls through proxy.scalar.com; this API is on the page's origin.
  proxyUrl: "",
  // The developer toolbar (shown on localhost), the "Ask AI" agent and the MCP button use Scalar's
  // hosted services.
  showDeveloperTools: "never",
  agent: { disabled: true },
  mcp: { disabled: true },
  telemetry: false,
};

const initScript = `Scalar.createApiReference("#app", ${JSON.stringify(referenceConfiguration).replaceAll("<", "\\u003c")});`;

const page = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Policy API reference</title>
  </head>
  <body>
    <div id="app"></div>
    <script src="${SCALAR_SCRIPT_PATH}"></script>
    <script>${initScript}</script>
  </body>
</html>
`;

let contentSecurityPolicy: Promise<string> | undefined;

/**
 * The browser enforces "this origin only" too: scripts from here (plus the one inline script, by hash),
 * and no fonts, images or connections elsewhere. Inline styles are allowed: Scalar injects its CSS.
 */
function getContentSecurityPolicy(): Promise<string> {
  contentSecurityPolicy ??= crypto.subtle
    .digest("SHA-256", new TextEncoder().encode(initScript))
    .then((digest) => {
      const hash = btoa(String.fromCharCode(...new Uint8Array(digest)));
      return [
        "default-src 'self'",
        `script-src 'self' 'sha256-${hash}'`,
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
      ].join("; ");
    });
  return contentSecurityPolicy;
}

export const docsRoutes = createRouter().get("/docs", async (c) => {
  c.header("Content-Security-Policy", await getContentSecurityPolicy());
  c.header("Cache-Control", "public, max-age=300");
  return c.html(page);
});
