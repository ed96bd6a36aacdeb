-- Undoes 0017_principal_directory: the directory's tables (their audit events stay in the chain).
DROP TABLE IF EXISTS "view_token_uses";
DROP TABLE IF EXISTS "delegations";
DROP TABLE IF EXISTS "contact_points";
