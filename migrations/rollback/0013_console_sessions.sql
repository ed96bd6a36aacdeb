-- Rollback of 0013_console_sessions (every console sign-in ends; the API is unaffected).
DROP TABLE IF EXISTS "console_sessions";
