// Regenerates the typed API client's inputs: the OpenAPI document and role matrix (from the
// Python app, no server needed), then `src/lib/api/schema.d.ts` with openapi-typescript.
// Python: $GITO_PYTHON, else the repository's .venv, else python3 on PATH.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const web = join(dirname(fileURLToPath(import.meta.url)), "..");
const venvPython = join(web, "..", ".venv", "bin", "python");
const python = process.env.GITO_PYTHON || (existsSync(venvPython) ? venvPython : "python3");

execFileSync(python, [join(web, "scripts", "export_contract.py")], { stdio: "inherit" });
execFileSync(
  process.execPath,
  [
    join(web, "node_modules", "openapi-typescript", "bin", "cli.js"),
    join(web, "src", "lib", "api", "openapi.json"),
    "--output",
    join(web, "src", "lib", "api", "schema.d.ts"),
  ],
  { stdio: "inherit", cwd: web },
);
