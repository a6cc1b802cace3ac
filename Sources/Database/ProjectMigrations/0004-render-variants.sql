-- Rendered variants kept in the backend (`__render/…`), with their sizes, so the cache can be
-- held to IMAGE_TRANSFORMATION_CACHE_MAX_BYTES across every replica: the least recently used
-- variants are evicted once the total is over the bound.
CREATE TABLE IF NOT EXISTS storage_api.render_variants (
  key text PRIMARY KEY,
  bytes bigint NOT NULL,
  used_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS render_variants_used_at_idx ON storage_api.render_variants (used_at);
