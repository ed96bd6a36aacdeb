-- Undoes 0017_principal_directory: the directory's two tables (their audit events stay in the chain).
DROP TABLE IF EXISTS "delegations";
DROP TABLE IF EXISTS "contact_points";
