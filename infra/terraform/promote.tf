# Promotion across accounts (deploy.toml's promote_from): production copies the images
# staging ran, by digest, and reads staging's ledger to know which. Cross-account access
# needs both sides: the source's resource policies grant the promoting account, and the
# promoting account's own policies (the deploy role's PromoteFrom statement, the plan
# role below) say which of its roles may use that grant.

locals {
  # The source of this environment's promotions, if it promotes: its repositories and its
  # state bucket, as ARNs.
  promote_from = var.promote_from_account_id == "" ? [] : [{
    repositories = "arn:aws:ecr:${var.region}:${var.promote_from_account_id}:repository/${local.project}/*"
    state_bucket = "arn:aws:s3:::${local.project}-${var.promote_from_environment}-deploy-state"
    app_objects  = [for name in local.apps : "arn:aws:s3:::${local.project}-${var.promote_from_environment}-${name}/*"]
  }]
}

# ---- the source side (staging): who may read its images and its ledger ----

data "aws_iam_policy_document" "promoted_by_repository" {
  count = length(var.promoted_by_account_ids) > 0 ? 1 : 0
  statement {
    sid = "PromotedBy"
    principals {
      type        = "AWS"
      identifiers = [for account in var.promoted_by_account_ids : "arn:aws:iam::${account}:root"]
    }
    # Find the image, then pull it: its manifests and its blobs.
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:DescribeImages",
      "ecr:DescribeRepositories",
      "ecr:GetDownloadUrlForLayer",
    ]
  }
}

resource "aws_ecr_repository_policy" "promoted_by" {
  for_each   = length(var.promoted_by_account_ids) > 0 ? aws_ecr_repository.service : {}
  repository = each.value.name
  policy     = data.aws_iam_policy_document.promoted_by_repository[0].json
}

data "aws_iam_policy_document" "promoted_by_state" {
  count = length(var.promoted_by_account_ids) > 0 ? 1 : 0
  statement {
    sid = "LedgerList"
    principals {
      type        = "AWS"
      identifiers = [for account in var.promoted_by_account_ids : "arn:aws:iam::${account}:root"]
    }
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.state.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["ledger/*"]
    }
  }
  statement {
    sid = "LedgerRead"
    principals {
      type        = "AWS"
      identifiers = [for account in var.promoted_by_account_ids : "arn:aws:iam::${account}:root"]
    }
    # The ledger and the lock only: what ran, and whether a deploy is under way.
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.state.arn}/ledger/*", "${aws_s3_bucket.state.arn}/deploy.lock"]
  }
}

resource "aws_s3_bucket_policy" "promoted_by" {
  count  = length(var.promoted_by_account_ids) > 0 ? 1 : 0
  bucket = aws_s3_bucket.state.id
  policy = data.aws_iam_policy_document.promoted_by_state[0].json
}

# ---- the promoting side (production): the read-only plan role ----

# The deploy role's trust is tied to the GitHub environment, whose reviewers approve the
# promotion: the job that shows the plan before that approval cannot assume it. This role
# can: any workflow of the repository on main, reading only.
data "aws_iam_policy_document" "plan_trust" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.github.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["repo:${var.github_repository}:ref:refs/heads/main"]
    }
  }
}

resource "aws_iam_role" "plan" {
  name                 = "${local.cluster_name}-plan"
  assume_role_policy   = data.aws_iam_policy_document.plan_trust.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "plan" {
  statement {
    sid = "ReadImages"
    actions = [
      "ecr:DescribeImages",
      "ecr:DescribeRepositories",
    ]
    resources = [for repository in aws_ecr_repository.service : repository.arn]
  }
  statement {
    sid = "ReadServices"
    # Describe calls take no resource-level permissions, or the cluster's.
    actions = [
      "ecs:DescribeServices",
      "ecs:DescribeTaskDefinition",
      "ecs:ListServiceDeployments",
    ]
    resources = ["*"]
  }
  statement {
    sid       = "ReadState"
    actions   = ["s3:GetObject", "s3:ListBucket"]
    resources = [aws_s3_bucket.state.arn, "${aws_s3_bucket.state.arn}/*"]
  }
  statement {
    sid     = "ReadApps"
    actions = ["s3:GetObject", "s3:ListBucket"]
    resources = concat(
      [for bucket in aws_s3_bucket.app : bucket.arn],
      [for bucket in aws_s3_bucket.app : "${bucket.arn}/*"],
    )
  }
  statement {
    sid       = "ReadDistributions"
    actions   = ["cloudfront:ListDistributions"]
    resources = ["*"]
  }
  dynamic "statement" {
    for_each = local.promote_from
    content {
      sid       = "PromoteFromRead"
      actions   = ["ecr:DescribeImages", "ecr:DescribeRepositories", "s3:GetObject", "s3:ListBucket"]
      resources = concat([statement.value.repositories, statement.value.state_bucket, "${statement.value.state_bucket}/*"], statement.value.app_objects)
    }
  }
}

resource "aws_iam_role_policy" "plan" {
  name   = "plan"
  role   = aws_iam_role.plan.id
  policy = data.aws_iam_policy_document.plan.json
}

output "plan_role_arn" {
  description = "Set it as the repository's AWS_PLAN_ROLE_ARN variable: the dry-run plan before a promotion's approval."
  value       = aws_iam_role.plan.arn
}
