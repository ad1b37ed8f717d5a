# The compile cache the build jobs share (deploy.toml's `build_cache`): sccache stores
# compiled crates under `sccache/`, keyed by their inputs, so an entry is never stale, only
# unused. Entries expire after `build_cache_days`; a build that misses compiles again.
# Only where the environment builds (`build_cache = true`): production promotes.

resource "aws_s3_bucket" "build_cache" {
  count  = var.build_cache ? 1 : 0
  bucket = local.build_cache_bucket
}

resource "aws_s3_bucket_server_side_encryption_configuration" "build_cache" {
  count  = var.build_cache ? 1 : 0
  bucket = aws_s3_bucket.build_cache[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "build_cache" {
  count                   = var.build_cache ? 1 : 0
  bucket                  = aws_s3_bucket.build_cache[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "build_cache" {
  count  = var.build_cache ? 1 : 0
  bucket = aws_s3_bucket.build_cache[0].id
  rule {
    id     = "expire-cache-entries"
    status = "Enabled"
    filter {
      prefix = "sccache/"
    }
    expiration {
      days = var.build_cache_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}
