// Authorization at the edge of every entry point: the one "may this role do that" check (assertCan).
// The rules themselves are pure, in domain/access.ts.
import { can, type Permission, type Principal } from "../domain/access.ts";
import { ApiError } from "./errors.ts";

/** Throws 403 `forbidden` unless the principal's role holds `permission`. */
export function assertCan(principal: Pick<Principal, "role">, permission: Permission): void {
  if (!can(principal, permission)) {
    // Logged and counted where every refusal is (recordRefusal, from the app's error handler or MCP).
    throw new ApiError("forbidden", `The ${principal.role} role may not ${permission.replace(":", " ")}`);
  }
}
