# The cluster, one service per deploy.toml service, and the task family each service's
# migrations run in. Terraform creates the first task definition; from then on the tool
# registers revisions (a copy with the new image), so services ignore task definition
# changes.

resource "aws_ecs_cluster" "main" {
  name = local.cluster_name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

# Who may assume the task roles: ECS's tasks.
data "aws_iam_policy_document" "ecs_tasks_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "task_execution" {
  name               = "${local.cluster_name}-task-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
}

resource "aws_iam_role_policy_attachment" "task_execution" {
  role       = aws_iam_role.task_execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

# Each service's own role: what its code may call (Secrets Manager, S3, ...). Empty here;
# a team attaches its policies. Its migration task runs with it too. The deploy role may
# pass it (oidc.tf), since every revision the tool registers names it.
resource "aws_iam_role" "task" {
  for_each           = local.services
  name               = "${local.ecs_services[each.key]}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
}

resource "aws_cloudwatch_log_group" "service" {
  for_each          = local.ecs_services
  name              = "/ecs/${each.value}"
  retention_in_days = 30
}

# The first revision only: `cargo xtask deploy` registers every later one.
resource "aws_ecs_task_definition" "service" {
  for_each                 = local.services
  family                   = local.ecs_services[each.key]
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  execution_role_arn       = aws_iam_role.task_execution.arn
  task_role_arn            = aws_iam_role.task[each.key].arn
  container_definitions = jsonencode([{
    name         = each.key
    image        = "${aws_ecr_repository.service[each.key].repository_url}:bootstrap"
    essential    = true
    portMappings = [{ containerPort = each.value.port }]
    environment  = [{ name = "DEPLOY_VERSION", value = "bootstrap" }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.service[each.key].name
        awslogs-region        = var.region
        awslogs-stream-prefix = each.key
      }
    }
  }])
}

# The family `cargo xtask deploy` registers each migration run in (same image, the
# service's migration command).
resource "aws_ecs_task_definition" "migrate" {
  for_each                 = local.migration_families
  family                   = each.value
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  execution_role_arn       = aws_iam_role.task_execution.arn
  task_role_arn            = aws_iam_role.task[each.key].arn
  container_definitions = jsonencode([{
    name      = each.key
    image     = "${aws_ecr_repository.service[each.key].repository_url}:bootstrap"
    essential = true
    command   = ["migrate"]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.service[each.key].name
        awslogs-region        = var.region
        awslogs-stream-prefix = "migrate"
      }
    }
  }])
}

resource "aws_ecs_service" "service" {
  for_each        = local.services
  name            = local.ecs_services[each.key]
  cluster         = aws_ecs_cluster.main.id
  task_definition = aws_ecs_task_definition.service[each.key].arn
  desired_count   = 2
  launch_type     = "FARGATE"

  # Never below the running count while rolling; the circuit breaker puts a failing
  # rollout back (the tool reports that as a failure, not a success).
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets         = var.subnet_ids
    security_groups = var.security_group_ids
  }

  # A service deploy.toml deploys blue/green, canary or linear: its two target groups, the
  # listener rules ECS moves traffic with, and the role that lets it (load_balancer.tf).
  dynamic "load_balancer" {
    for_each = contains(keys(local.shifting), each.key) ? [each.key] : []
    content {
      target_group_arn = aws_lb_target_group.service["${each.key}/blue"].arn
      container_name   = each.key
      container_port   = each.value.port
      advanced_configuration {
        alternate_target_group_arn = aws_lb_target_group.service["${each.key}/green"].arn
        production_listener_rule   = aws_lb_listener_rule.service["${each.key}/production"].arn
        test_listener_rule         = aws_lb_listener_rule.service["${each.key}/test"].arn
        role_arn                   = aws_iam_role.ecs_infrastructure[0].arn
      }
    }
  }

  lifecycle {
    # The tool owns the task definition (and the count may be scaled by hand), and the
    # deployment configuration and alarms: each deploy sets deploy.toml's strategy, bakes,
    # alarms and its PAUSE hook, which an apply would otherwise revert.
    ignore_changes = [task_definition, desired_count, deployment_configuration, alarms]
  }
}
