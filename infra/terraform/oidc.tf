# The role GitHub Actions assumes with its OIDC token (no long-lived keys): only workflows
# of `github_repository` running in this environment's GitHub environment, and only the
# calls the tool makes (a test compares this list with the tool's source).

resource "aws_iam_openid_connect_provider" "github" {
  url             = "https://token.actions.githubusercontent.com"
  client_id_list  = ["sts.amazonaws.com"]
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1"]
}

data "aws_iam_policy_document" "deploy_trust" {
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
      values   = ["repo:${var.github_repository}:environment:${var.environment}"]
    }
  }
}

resource "aws_iam_role" "deploy" {
  name                 = "${local.cluster_name}-deploy"
  assume_role_policy   = data.aws_iam_policy_document.deploy_trust.json
  max_session_duration = 7200
}

data "aws_iam_policy_document" "deploy" {
  statement {
    sid       = "Registry"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  statement {
    sid = "Images"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:DescribeImages",
      "ecr:DescribeRepositories",
      "ecr:InitiateLayerUpload",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
    ]
    resources = [for repository in aws_ecr_repository.service : repository.arn]
  }
  statement {
    sid = "ImageScans"
    # The vulnerability gate reads each image's findings; with enhanced scanning they are
    # Amazon Inspector's (ECR's user guide: "IAM permissions required for enhanced
    # scanning"), which take no resource-level permission.
    actions   = ["ecr:DescribeImageScanFindings", "inspector2:ListFindings"]
    resources = ["*"]
  }
  statement {
    sid = "TaskDefinitions"
    # These ECS calls take no resource-level permissions.
    actions = [
      "ecs:DescribeTaskDefinition",
      "ecs:RegisterTaskDefinition",
    ]
    resources = ["*"]
  }
  statement {
    sid = "TagNewTaskDefinitions"
    # A new revision carries the live one's tags: tagging on create needs TagResource, for
    # that action only.
    actions   = ["ecs:TagResource"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RegisterTaskDefinition"]
    }
  }
  statement {
    sid = "Rollouts"
    actions = [
      "ecs:DescribeServices",
      "ecs:DescribeTasks",
      "ecs:ListServiceDeployments",
      "ecs:ListTasks",
      "ecs:RunTask",
      "ecs:StopTask",
      "ecs:UpdateService",
    ]
    resources = ["*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.main.arn]
    }
  }
  statement {
    sid = "ServiceDeployments"
    # A blue/green, canary or linear roll: followed stage by stage, continued (or rolled
    # back) at the tool's pause, stopped on Ctrl-C. Only this cluster's.
    actions = [
      "ecs:ContinueServiceDeployment",
      "ecs:DescribeServiceDeployments",
      "ecs:StopServiceDeployment",
    ]
    resources = ["arn:aws:ecs:${var.region}:${var.account_id}:service-deployment/${local.cluster_name}/*"]
  }
  statement {
    sid = "TaskLogs"
    # A failure report shows the last lines a failed migration or crashed task logged.
    actions   = ["logs:GetLogEvents"]
    resources = [for group in aws_cloudwatch_log_group.service : "${group.arn}:*"]
  }
  statement {
    sid       = "PassTaskRoles"
    actions   = ["iam:PassRole"]
    resources = concat([aws_iam_role.task_execution.arn], [for role in aws_iam_role.task : role.arn])
    # To ECS's tasks only: the deploy role cannot hand these roles to anything else.
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
  statement {
    sid     = "Buckets"
    actions = ["s3:ListBucket"]
    resources = concat(
      [aws_s3_bucket.state.arn],
      [for bucket in aws_s3_bucket.app : bucket.arn],
    )
  }
  statement {
    sid = "Objects"
    actions = [
      "s3:DeleteObject",
      "s3:GetObject",
      "s3:PutObject",
    ]
    resources = concat(
      ["${aws_s3_bucket.state.arn}/*"],
      [for bucket in aws_s3_bucket.app : "${bucket.arn}/*"],
    )
  }
  # The host build's compile cache (build_cache.tf): sccache reads and writes its entries.
  dynamic "statement" {
    for_each = aws_s3_bucket.build_cache
    content {
      sid       = "BuildCache"
      actions   = ["s3:GetObject", "s3:PutObject"]
      resources = ["${statement.value.arn}/sccache/*"]
    }
  }
  statement {
    sid       = "Distributions"
    actions   = ["cloudfront:ListDistributions"]
    resources = ["*"]
  }
  # A promotion reads the source's ledger and copies its images (promote.tf): the source's
  # policies grant this account, this statement this role.
  dynamic "statement" {
    for_each = local.promote_from
    content {
      sid = "PromoteFrom"
      actions = [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:DescribeImages",
        "ecr:DescribeRepositories",
        "ecr:GetDownloadUrlForLayer",
        "s3:GetObject",
        "s3:ListBucket",
      ]
      # The source's ledger, its images, and its apps' releases.
      resources = concat([statement.value.repositories, statement.value.state_bucket, "${statement.value.state_bucket}/*"], statement.value.app_objects)
    }
  }
  statement {
    sid       = "Invalidations"
    actions   = ["cloudfront:CreateInvalidation"]
    resources = [for distribution in aws_cloudfront_distribution.app : distribution.arn]
  }
}

resource "aws_iam_role_policy" "deploy" {
  name   = "deploy"
  role   = aws_iam_role.deploy.id
  policy = data.aws_iam_policy_document.deploy.json
}

output "deploy_role_arn" {
  description = "Set it as the GitHub environment's AWS_DEPLOY_ROLE_ARN variable."
  value       = aws_iam_role.deploy.arn
}
