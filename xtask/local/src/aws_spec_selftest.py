"""End-to-end check of the local stack's request validation (aws_spec.py): requests of
every kind the deploy tool makes pass unrefused, and requests real AWS would refuse (a bad
enum, a name too long, a bad bucket name, a missing required member, a wrong type, ...) are
refused with the code AWS answers them with, and recorded at /_xtask/spec.

    python aws_spec_selftest.py http://127.0.0.1:PORT

Run it with the stack's own Python (the venv beside moto has boto3). Exits 0 when every
expectation holds; otherwise prints each mismatch and exits 1. Each call is tagged in its
User-Agent, so other clients using the same stack meanwhile do not confuse it.
"""

import json
import sys
import urllib.request
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = sys.argv[1].rstrip("/") if len(sys.argv) > 1 else ""
REGION = "us-east-1"
RUN = uuid.uuid4().hex[:8]
TAG = {"current": ""}
RESULTS = []


def spec(since=0):
    with urllib.request.urlopen(f"{ENDPOINT}/_xtask/spec?since={since}", timeout=10) as response:
        return json.load(response)


def network():
    with urllib.request.urlopen(f"{ENDPOINT}/_xtask/network?region={REGION}", timeout=10) as response:
        return json.load(response)


def tag_user_agent(request, **_):
    agent = request.headers.get("User-Agent", "")
    del request.headers["User-Agent"]
    request.headers["User-Agent"] = f"{agent} xtask-spec-selftest/{TAG['current']}"


def clients(validate):
    config = Config(parameter_validation=validate, retries={"total_max_attempts": 1, "mode": "standard"},
                    s3={"addressing_style": "path"})
    made = {}
    for name in ("ecs", "ecr", "s3", "cloudfront", "sts"):
        client = boto3.client(name, endpoint_url=ENDPOINT, region_name=REGION, aws_access_key_id="000000000000",
                              aws_secret_access_key="local", config=config)
        client.meta.events.register("before-send.*.*", tag_user_agent)
        made[name] = client
    return made


def call(label, client, operation, expect=None, **params):
    """Calls `operation`; `expect` None means the spec must let it through (whatever moto
    then answers), else the error code the spec must refuse it with."""
    TAG["current"] = f"{RUN}-{len(RESULTS)}"
    before = spec()["seq"]
    code, message, result = None, "", None
    try:
        result = getattr(client, operation)(**params)
    except ClientError as err:
        code, message = err.response["Error"].get("Code"), err.response["Error"].get("Message", "")
    except Exception as err:  # moto failing downstream (e.g. no registry) is not the spec's doing
        code, message = f"!{type(err).__name__}", str(err)
    after = spec(before)
    mine = lambda entry: entry.get("agent", "").endswith(f"xtask-spec-selftest/{TAG['current']}")
    violations = [v for v in after["violations"] if mine(v)]
    unmapped = [u for u in after["unmapped"] if mine(u)]
    problems = []
    if unmapped:
        problems.append(f"unmapped: {unmapped[0]['reason']}")
    if expect is None and violations:
        problems.append(f"refused as {violations[0]['code']}: {violations[0]['message']}")
    if expect is not None:
        if code != expect:
            problems.append(f"answered {code or 'success'} ({message[:160]}), expected {expect}")
        if not any(v["code"] == expect and v["refused"] for v in violations):
            problems.append("no refusal recorded at /_xtask/spec")
    outcome = "refused " + code if expect else ("passed" + (f" (moto: {code})" if code else ""))
    RESULTS.append((label, outcome, problems))
    print(f"{'ok  ' if not problems else 'FAIL'} {label}: {outcome}" + "".join(f"\n       {p}" for p in problems),
          flush=True)
    return result


def main():
    if not ENDPOINT:
        print(__doc__)
        return 2
    try:
        report = spec()
    except Exception as err:
        print(f"MISMATCH the local stack does not answer {ENDPOINT}/_xtask/spec: {err}")
        return 1
    if report.get("mode") != "enforce":
        print(f"MISMATCH the stack's request validation is in mode {report.get('mode')!r}, not 'enforce' (XTASK_SPEC)")
        return 1
    ok, loose = clients(True), clients(False)
    ecs, ecr, s3, cf, sts = (ok[n] for n in ("ecs", "ecr", "s3", "cloudfront", "sts"))
    net = network()
    awsvpc = {"awsvpcConfiguration": {"subnets": net["subnets"][:2], "securityGroups": net["security_groups"],
                                      "assignPublicIp": "DISABLED"}}
    cluster, service, family = f"spec-{RUN}", f"spec-{RUN}-api", f"spec-{RUN}-api"
    container = {"name": "api", "image": "127.0.0.1:5000/spec/api:bootstrap", "essential": True,
                 "portMappings": [{"containerPort": 8080}],
                 "environment": [{"name": "DEPLOY_VERSION", "value": "bootstrap"}]}
    task = {"family": family, "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "cpu": "256",
            "memory": "512", "containerDefinitions": [container]}
    bucket, repository = f"spec-{RUN}-state", f"spec-{RUN}/api"
    deploy_id = f"20261122T101500Z-{RUN}-x7k2"

    print("valid requests (as the deploy tool makes them) must pass:")
    call("sts GetCallerIdentity", sts, "get_caller_identity")
    call("ecs CreateCluster", ecs, "create_cluster", clusterName=cluster)
    call("ecs DescribeClusters", ecs, "describe_clusters", clusters=[cluster])
    first = call("ecs RegisterTaskDefinition", ecs, "register_task_definition", **task)
    first_arn = first["taskDefinition"]["taskDefinitionArn"] if first else family
    call("ecs CreateService", ecs, "create_service", cluster=cluster, serviceName=service, taskDefinition=first_arn,
         desiredCount=2, launchType="FARGATE", networkConfiguration=awsvpc,
         deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True},
                                  "maximumPercent": 200, "minimumHealthyPercent": 100})
    call("ecs DescribeServices", ecs, "describe_services", cluster=cluster, services=[service])
    second = call("ecs RegisterTaskDefinition (revision)", ecs, "register_task_definition",
                  **dict(task, containerDefinitions=[dict(container, image="127.0.0.1:5000/spec/api:abc1234")]))
    second_arn = second["taskDefinition"]["taskDefinitionArn"] if second else family
    call("ecs UpdateService", ecs, "update_service", cluster=cluster, service=service, taskDefinition=second_arn)
    call("ecs DescribeTaskDefinition", ecs, "describe_task_definition", taskDefinition=second_arn)
    call("ecs DescribeTaskDefinition (family)", ecs, "describe_task_definition", taskDefinition=family)
    ran = call("ecs RunTask", ecs, "run_task", cluster=cluster, taskDefinition=second_arn, count=1,
               startedBy="xtask-migrate", clientToken=f"{deploy_id}-api"[:64], launchType="FARGATE",
               networkConfiguration=awsvpc)
    task_arn = ran["tasks"][0]["taskArn"] if ran and ran.get("tasks") else "arn:aws:ecs:us-east-1:000000000000:task/x/1"
    call("ecs DescribeTasks", ecs, "describe_tasks", cluster=cluster, tasks=[task_arn])
    call("ecs ListTasks", ecs, "list_tasks", cluster=cluster, serviceName=service, desiredStatus="STOPPED")
    call("ecr CreateRepository", ecr, "create_repository", repositoryName=repository,
         imageTagMutability="IMMUTABLE")
    call("ecr DescribeRepositories", ecr, "describe_repositories", repositoryNames=[repository])
    call("ecr GetAuthorizationToken", ecr, "get_authorization_token")
    call("ecr DescribeImages", ecr, "describe_images", repositoryName=repository,
         imageIds=[{"imageTag": "fp-0123456789abcdef"}])
    digest = "sha256:" + "0" * 64
    call("ecr BatchGetImage", ecr, "batch_get_image", repositoryName=repository, imageIds=[{"imageDigest": digest}])
    call("ecr PutImage", ecr, "put_image", repositoryName=repository, imageTag="abc1234", imageDigest=digest,
         imageManifest=json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}),
         imageManifestMediaType="application/vnd.oci.image.manifest.v1+json")
    call("s3 CreateBucket", s3, "create_bucket", Bucket=bucket)
    call("s3 HeadBucket", s3, "head_bucket", Bucket=bucket)
    call("s3 PutBucketVersioning", s3, "put_bucket_versioning", Bucket=bucket,
         VersioningConfiguration={"Status": "Enabled"})
    call("s3 PutObject If-None-Match", s3, "put_object", Bucket=bucket, Key="deploy.lock", Body=b"{}",
         IfNoneMatch="*", ContentType="application/json")
    call("s3 PutObject (key with spaces, unicode)", s3, "put_object", Bucket=bucket, Key="assets/a b ü+#.js",
         Body=b"x", ContentType="text/javascript", CacheControl="public, max-age=31536000, immutable",
         Metadata={"fingerprint": "abc"})
    call("s3 GetObject", s3, "get_object", Bucket=bucket, Key="deploy.lock")
    call("s3 HeadObject", s3, "head_object", Bucket=bucket, Key="deploy.lock")
    call("s3 ListObjectsV2", s3, "list_objects_v2", Bucket=bucket, Prefix="ledger/", MaxKeys=1000)
    call("s3 CopyObject", s3, "copy_object", Bucket=bucket, Key="releases/r1/index.html",
         CopySource=f"{bucket}/deploy.lock", MetadataDirective="REPLACE", ContentType="text/html",
         CacheControl="no-cache")
    call("s3 ListObjectVersions", s3, "list_object_versions", Bucket=bucket)
    call("s3 DeleteObject", s3, "delete_object", Bucket=bucket, Key="deploy.lock")
    call("s3 DeleteObjects", s3, "delete_objects", Bucket=bucket,
         Delete={"Objects": [{"Key": "releases/r1/index.html"}, {"Key": "assets/a b ü+#.js"}], "Quiet": True})
    call("s3 ListBuckets", s3, "list_buckets")
    call("cloudfront ListDistributions", cf, "list_distributions")
    created = call("cloudfront CreateDistribution", cf, "create_distribution", DistributionConfig={
        "CallerReference": bucket, "Comment": bucket, "Enabled": True, "DefaultRootObject": "index.html",
        "Origins": {"Quantity": 1, "Items": [{"Id": "app", "DomainName": f"{bucket}.s3.{REGION}.amazonaws.com",
                                              "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "app", "ViewerProtocolPolicy": "redirect-to-https",
                                 "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"}})
    distribution = created["Distribution"]["Id"] if created else "E000000000000"
    invalidation = call("cloudfront CreateInvalidation", cf, "create_invalidation", DistributionId=distribution,
                        InvalidationBatch={"Paths": {"Quantity": 3, "Items": ["/index.html", "/", "/assets/*"]},
                                           "CallerReference": f"{deploy_id}-web"})
    invalidation_id = invalidation["Invalidation"]["Id"] if invalidation else "I000000000000"
    call("cloudfront GetInvalidation", cf, "get_invalidation", DistributionId=distribution, Id=invalidation_id)
    call("cloudfront ListInvalidations", cf, "list_invalidations", DistributionId=distribution)

    print("requests AWS would refuse must be refused with AWS's code:")
    ecs, ecr, s3, cf, sts = (loose[n] for n in ("ecs", "ecr", "s3", "cloudfront", "sts"))
    call("ecs CreateCluster, name with a space", ecs, "create_cluster", "InvalidParameterException",
         clusterName="bad name")
    call("ecs CreateCluster, name of 256", ecs, "create_cluster", "InvalidParameterException",
         clusterName="c" * 256)
    call("ecs DescribeServices, services missing", ecs, "describe_services", "InvalidParameterException",
         cluster=cluster)
    call("ecs DescribeServices, 11 services", ecs, "describe_services", "InvalidParameterException",
         cluster=cluster, services=[f"s{i}" for i in range(11)])
    call("ecs UpdateService, desiredCount a string", ecs, "update_service", "SerializationException",
         cluster=cluster, service=service, desiredCount="two")
    call("ecs RunTask, launchType not in the enum", ecs, "run_task", "InvalidParameterException",
         cluster=cluster, taskDefinition=second_arn, launchType="FARGATE_X", networkConfiguration=awsvpc)
    call("ecs RunTask, clientToken of 65", ecs, "run_task", "InvalidParameterException", cluster=cluster,
         taskDefinition=second_arn, clientToken="t" * 65, launchType="FARGATE", networkConfiguration=awsvpc)
    call("ecs RunTask, startedBy with a space", ecs, "run_task", "InvalidParameterException", cluster=cluster,
         taskDefinition=second_arn, startedBy="xtask migrate", launchType="FARGATE", networkConfiguration=awsvpc)
    call("ecs RegisterTaskDefinition, family with a space", ecs, "register_task_definition", "ClientException",
         **dict(task, family="my family"))
    call("ecs RegisterTaskDefinition, container name with a dot", ecs, "register_task_definition",
         "ClientException", **dict(task, containerDefinitions=[dict(container, name="api.v2")]))
    call("ecs RegisterTaskDefinition, no Fargate size 256/4096", ecs, "register_task_definition",
         "ClientException", **dict(task, memory="4096"))
    call("ecs RegisterTaskDefinition, containerDefinitions missing", ecs, "register_task_definition",
         "ClientException", family=family)
    call("ecr DescribeRepositories, uppercase name", ecr, "describe_repositories", "InvalidParameterException",
         repositoryNames=["Spec_Api"])
    call("ecr PutImage, imageManifest missing", ecr, "put_image", "InvalidParameterException",
         repositoryName=repository, imageTag="abc1234")
    call("ecr PutImage, imageTag of 301", ecr, "put_image", "InvalidParameterException",
         repositoryName=repository, imageTag="t" * 301, imageManifest="{}")
    call("ecr CreateRepository, imageTagMutability not in the enum", ecr, "create_repository",
         "InvalidParameterException", repositoryName=f"spec-{RUN}/other", imageTagMutability="FROZEN")
    for name in ("Spec_Bucket", "ab", "192.168.5.4", "my..bucket", "xn--bucket", "data-s3alias", "-bucket",
                 "b" * 64):
        call(f"s3 CreateBucket {name[:20]!r}", s3, "create_bucket", "InvalidBucketName", Bucket=name)
    call("s3 PutBucketVersioning, Status not in the enum", s3, "put_bucket_versioning", "MalformedXML",
         Bucket=bucket, VersioningConfiguration={"Status": "On"})
    call("s3 PutObject, key of 1025 bytes", s3, "put_object", "KeyTooLongError", Bucket=bucket, Key="k" * 1025,
         Body=b"x")
    call("s3 PutObject, storage class not in the enum", s3, "put_object", "InvalidStorageClass", Bucket=bucket,
         Key="x", Body=b"x", StorageClass="FAST")
    call("s3 PutObject, metadata over 2 KB", s3, "put_object", "MetadataTooLarge", Bucket=bucket, Key="x",
         Body=b"x", Metadata={"big": "m" * 2100})
    call("s3 ListObjectsV2, MaxKeys not an integer", s3, "list_objects_v2", "InvalidArgument", Bucket=bucket,
         MaxKeys="ten")
    call("s3 CopyObject, MetadataDirective not in the enum", s3, "copy_object", "InvalidArgument",
         Bucket=bucket, Key="y", CopySource=f"{bucket}/x", MetadataDirective="KEEP")
    call("cloudfront CreateInvalidation, path without /", cf, "create_invalidation", "InvalidArgument",
         DistributionId=distribution,
         InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["index.html"]}, "CallerReference": f"{RUN}-1"})
    call("cloudfront CreateInvalidation, path with ~", cf, "create_invalidation", "InvalidArgument",
         DistributionId=distribution,
         InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/a~b.js"]}, "CallerReference": f"{RUN}-2"})
    call("cloudfront CreateInvalidation, Quantity 3 for 2 Items", cf, "create_invalidation",
         "InconsistentQuantities", DistributionId=distribution,
         InvalidationBatch={"Paths": {"Quantity": 3, "Items": ["/a", "/b"]}, "CallerReference": f"{RUN}-3"})
    call("cloudfront CreateInvalidation, Quantity not an integer", cf, "create_invalidation", "MalformedInput",
         DistributionId=distribution,
         InvalidationBatch={"Paths": {"Quantity": "one", "Items": ["/a"]}, "CallerReference": f"{RUN}-4"})
    call("cloudfront CreateInvalidation, CallerReference missing", cf, "create_invalidation", "InvalidArgument",
         DistributionId=distribution, InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/a"]}})
    call("cloudfront CreateDistribution, ViewerProtocolPolicy not in the enum", cf, "create_distribution",
         "InvalidArgument", DistributionConfig={
             "CallerReference": f"{RUN}-bad", "Comment": "", "Enabled": True,
             "Origins": {"Quantity": 1, "Items": [{"Id": "app", "DomainName": "b.s3.amazonaws.com",
                                                   "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
             "DefaultCacheBehavior": {"TargetOriginId": "app", "ViewerProtocolPolicy": "https-only-please",
                                      "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"}})
    call("sts AssumeRole, RoleSessionName with a space", sts, "assume_role", "ValidationError",
         RoleArn="arn:aws:iam::000000000000:role/deploy", RoleSessionName="bad name")
    call("sts AssumeRole, RoleArn missing", sts, "assume_role", "ValidationError", RoleSessionName="ok-name")
    call("sts AssumeRole, DurationSeconds below 900", sts, "assume_role", "ValidationError",
         RoleArn="arn:aws:iam::000000000000:role/deploy", RoleSessionName="ok-name", DurationSeconds=60)

    failed = [r for r in RESULTS if r[2]]
    print(f"\n{len(RESULTS) - len(failed)} of {len(RESULTS)} as expected")
    for label, outcome, problems in failed:
        print(f"MISMATCH {label}: {'; '.join(problems)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
