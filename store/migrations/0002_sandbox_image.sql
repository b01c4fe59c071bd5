-- The OCI image a sandbox runs in (its root file system): the reference
-- the caller gave and the digest it resolved to; empty without an image.
ALTER TABLE sandboxes ADD COLUMN image_ref TEXT NOT NULL DEFAULT '';
ALTER TABLE sandboxes ADD COLUMN image_digest TEXT NOT NULL DEFAULT '';
CREATE INDEX sandboxes_image_digest ON sandboxes (image_digest) WHERE image_digest <> '';
