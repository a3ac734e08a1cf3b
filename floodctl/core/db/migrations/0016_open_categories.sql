-- Warning categories are an open registry (floodctl/domain/hazards.toml: flood, device, and whatever a
-- county adds, 平战结合). The rule parser checks a rule's category against the registry, so the closed
-- list in the schema goes: a new category needs data, not a migration.
ALTER TABLE warnings DROP CONSTRAINT IF EXISTS warnings_category_check;
