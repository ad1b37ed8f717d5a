# One private bucket per app, served by CloudFront through origin access control. The tool
# finds an app's distribution by its comment, which is the bucket's name.

resource "aws_s3_bucket" "app" {
  for_each = local.app_buckets
  bucket   = each.value
}

resource "aws_s3_bucket_public_access_block" "app" {
  for_each                = aws_s3_bucket.app
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_cloudfront_origin_access_control" "app" {
  for_each                          = local.app_buckets
  name                              = each.value
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_distribution" "app" {
  for_each            = local.app_buckets
  comment             = each.value
  enabled             = true
  default_root_object = "index.html"

  origin {
    origin_id                = each.value
    domain_name              = aws_s3_bucket.app[each.key].bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.app[each.key].id
  }

  default_cache_behavior {
    target_origin_id       = each.value
    viewer_protocol_policy = "redirect-to-https"
    allowed_methods        = ["GET", "HEAD"]
    cached_methods         = ["GET", "HEAD"]
    compress               = true
    # Managed-CachingOptimized: honours the Cache-Control the tool sets on each object.
    cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
  }

  # A client-side router's paths are served by index.html.
  custom_error_response {
    error_code         = 403
    response_code      = 200
    response_page_path = "/index.html"
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = true
  }
}

data "aws_iam_policy_document" "app_bucket" {
  for_each = local.app_buckets
  statement {
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.app[each.key].arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.app[each.key].arn]
    }
  }
  # The environments that promote from this one read its releases (promote.tf).
  dynamic "statement" {
    for_each = length(var.promoted_by_account_ids) > 0 ? [var.promoted_by_account_ids] : []
    content {
      sid       = "PromotedBy"
      actions   = ["s3:GetObject"]
      resources = ["${aws_s3_bucket.app[each.key].arn}/*"]
      principals {
        type        = "AWS"
        identifiers = [for account in statement.value : "arn:aws:iam::${account}:root"]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "app" {
  for_each = local.app_buckets
  bucket   = aws_s3_bucket.app[each.key].id
  policy   = data.aws_iam_policy_document.app_bucket[each.key].json
}
