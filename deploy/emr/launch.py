#!/usr/bin/env python3
"""Runs event-counter on a new AWS EMR cluster with one command.

    python deploy/emr/launch.py --binary target/x86_64-unknown-linux-musl/release/event-counter \\
        --code s3://my-bucket/event-counter/ \\
        --regions s3://my-bucket/input/region.csv --locations s3://my-bucket/input/events/ \\
        --output s3://my-bucket/output/result.csv --instances 4 --wait

It uploads the binary and the Spark driver (deploy/spark/event_counter_spark.py)
to the --code prefix, starts a cluster with Spark, and runs the driver as the
cluster's only step: `spark-submit --deploy-mode cluster --files <binary>
<driver> ...`, one Spark task per shard, the parts merged into --output. The
cluster terminates itself when the step ends, whether it succeeds or fails,
so a launch never leaves machines running. Without --wait it prints the
cluster and step ids and how to follow them; with --wait it follows them to
the end, and exits 0 only when the step completed.

    python deploy/emr/launch.py status j-XXXXXXXXXXXX [--wait]

reports on a cluster started here: once (exit 0 completed, 1 failed, 3 still
running) or, with --wait, until it ends.

Python and boto3 rather than a shell script around the aws CLI: it can be
tested end to end against moto (deploy/emr/test_launch.py), AWS errors arrive
as structured exceptions that become one line naming the operation, and the
status loop reads states from dicts instead of parsing JSON in bash.
Credentials, region and endpoint come from boto3's standard chain
(AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_DEFAULT_REGION, ~/.aws/config, an
instance role), and AWS_REGION as the aws CLI v2 reads it; boto3 1.28 or
newer also honours AWS_ENDPOINT_URL, which the tests use.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

try:
    import boto3
    import botocore
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    sys.exit("launch.py: error: needs boto3 (pip install boto3)")

PROG = "launch.py"
HERE = Path(__file__).resolve().parent
DRIVER = HERE.parent / "spark" / "event_counter_spark.py"
# The count's options the driver passes to every shard: one list, the
# driver's (it imports pyspark only where it runs).
sys.path.insert(0, str(DRIVER.parent))
from event_counter_spark import add_count_options, count_flags  # noqa: E402

# The driver looks the shipped binary up by this name (its --binary default),
# so it is uploaded under it whatever the local file is called.
BINARY_NAME = "event-counter"
STEP_NAME = "event-counter"

DEFAULT_INSTANCE_TYPE = "m6i.4xlarge"
DEFAULT_RELEASE_LABEL = "emr-7.9.0"
# A safety net beside KeepJobFlowAliveWhenNoSteps=False: should the cluster
# ever sit idle anyway (someone switched auto-termination off, a step was
# added by hand and finished), EMR ends it after an hour. "Idle" means no
# step and no YARN application running, so it can never cut the count short.
IDLE_TIMEOUT_SECONDS = 3600

CLUSTER_ENDED = {"TERMINATED", "TERMINATED_WITH_ERRORS"}
STEP_FAILED = {"FAILED", "CANCELLED", "INTERRUPTED"}
EXIT_RUNNING = 3  # `status` without --wait: not finished yet

# vCPUs by instance size, for the m, c and r families (general purpose,
# compute and memory optimised, Intel, AMD and Graviton alike): the types EMR
# clusters are usually made of. Other types get no --threads, and the binary
# uses every core it sees.
VCPUS_BY_SIZE = {"large": 2, "xlarge": 4, "2xlarge": 8, "3xlarge": 12, "4xlarge": 16,
                 "6xlarge": 24, "8xlarge": 32, "9xlarge": 36, "12xlarge": 48,
                 "16xlarge": 64, "18xlarge": 72, "24xlarge": 96, "32xlarge": 128,
                 "48xlarge": 192}
ELF_MACHINES = {62: "x86_64", 183: "aarch64"}


class Usage(Exception):
    """A bad command line: one line on stderr, exit 2 (as argparse does)."""


class Failure(Exception):
    """AWS said no, or the run failed: one line on stderr, exit 1."""


# --- checking the command line ------------------------------------------------

def s3_url(text: str, flag: str, *, key: str = "any") -> tuple[str, str]:
    """`s3://bucket/key` as (bucket, key). key="object": a key that names an
    object (not empty, no trailing /); key="any": a prefix will do."""
    if not text.startswith("s3://"):
        raise Usage(f"{flag} {text}: not an s3:// URL")
    bucket, _, path = text[len("s3://"):].partition("/")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]", bucket):
        raise Usage(f"{flag} {text}: {bucket!r} is not a valid bucket name")
    if key == "object" and (not path or path.endswith("/")):
        raise Usage(f"{flag} {text}: must name an object (s3://bucket/key), not a prefix ending in '/'")
    return bucket, path


def s3_place(url: str) -> tuple[str, tuple[str, ...]]:
    """(bucket, key segments) of an s3:// URL, to compare URLs as the binary
    addresses objects: its S3 library drops empty segments, so
    `s3://b//in/loc.csv` is `s3://b/in/loc.csv`, and lists a prefix segment
    by segment, so `s3://b/in/events/` holds `in/events/a.csv` but not
    `in/events-2.csv`."""
    bucket, _, key = url[len("s3://"):].partition("/")
    return bucket, tuple(part for part in key.split("/") if part)


def check_output_apart(args: argparse.Namespace) -> None:
    """Refuses an --output that is an input, or under a --locations prefix:
    the merge would overwrite the input, or the shards would count the parts
    written beside the output (<output>.parts/, by the Spark driver) and
    every later count the result."""
    bucket, key = s3_place(args.output)
    overwritten = "the count would overwrite its input"
    if s3_place(args.regions) == (bucket, key):
        raise Usage(f"--output {args.output} is --regions {args.regions}: {overwritten}; "
                    "write the result elsewhere")
    for url in args.locations:
        where_bucket, where = s3_place(url)
        if where_bucket == bucket and key[:len(where)] == where:
            why = (f"is --locations {url}: {overwritten}" if key == where else
                   f"is under --locations {url}: its parts and the result would be read as events")
            raise Usage(f"--output {args.output} {why}; write the result elsewhere")


def vcpus(instance_type: str) -> int | None:
    """vCPUs of an m/c/r instance type, or None when not known here."""
    family, _, size = instance_type.partition(".")
    if re.fullmatch(r"[mcr]\d[a-z0-9-]*", family):
        return VCPUS_BY_SIZE.get(size)
    return None


def instance_arch(instance_type: str) -> str:
    """x86_64, or aarch64 for Graviton types (a 'g' after the generation:
    m7g, c7gn, r8gd; and a1)."""
    family = instance_type.partition(".")[0]
    m = re.fullmatch(r"[a-z]+\d+([a-z-]*)", family)
    return "aarch64" if family == "a1" or (m and "g" in m.group(1)) else "x86_64"


def read_elf(path: Path) -> tuple[str, bool]:
    """(architecture, dynamically linked) of a Linux binary; Usage if it is not one."""
    with open(path, "rb") as f:
        data = f.read(1 << 16)  # the headers are at the start
    if data[:4] != b"\x7fELF" or len(data) < 64:
        raise Usage(f"--binary {path}: not a Linux (ELF) executable; build one with "
                    "cargo build --release --target x86_64-unknown-linux-musl")
    order = "little" if data[5] == 1 else "big"

    def num(at: int, size: int) -> int:
        return int.from_bytes(data[at:at + size], order)

    arch = ELF_MACHINES.get(num(18, 2), f"machine type {num(18, 2)}")
    # A program header of type PT_INTERP (3) names the dynamic loader.
    dynamic = False
    if data[4] == 2:  # 64-bit
        phoff, phentsize, phnum = num(32, 8), num(54, 2), num(56, 2)
        dynamic = any(num(phoff + i * phentsize, 4) == 3 for i in range(phnum)
                      if phoff + (i + 1) * phentsize <= len(data))
    return arch, dynamic


def check_launch(args: argparse.Namespace) -> None:
    """Every check that needs no AWS call, so that nothing is uploaded or
    started for a command line that cannot work."""
    code_bucket, code_prefix = s3_url(args.code, "--code")
    if code_prefix and not code_prefix.endswith("/"):
        code_prefix += "/"
    args.code_bucket, args.code_prefix = code_bucket, code_prefix
    s3_url(args.regions, "--regions", key="object")
    for url in args.locations:
        s3_url(url, "--locations")
    s3_url(args.output, "--output", key="object")
    check_output_apart(args)
    if args.log_uri is None:
        # Without a log URI a failed step leaves nothing to read once the
        # cluster is gone, so keep the logs next to the code by default.
        args.log_uri = f"s3://{code_bucket}/{code_prefix}logs/"
    s3_url(args.log_uri, "--log-uri")
    for flag, value in (("--instances", args.instances), ("--shards", args.shards),
                        ("--threads", args.threads)):
        if value is not None and value < 1:
            raise Usage(f"{flag} {value}: must be at least 1")
    if args.poll_seconds <= 0:
        raise Usage(f"--poll-seconds {args.poll_seconds}: must be above 0")
    for flag, value in (("--instance-type", args.instance_type),
                        ("--master-instance-type", args.master_instance_type)):
        if value is not None and not re.fullmatch(r"[a-z][a-z0-9-]*\.[a-z0-9]+", value):
            raise Usage(f"{flag} {value}: not an EC2 instance type such as m6i.4xlarge")

    binary = Path(args.binary)
    if not binary.is_file():
        raise Usage(f"--binary {binary}: no such file")
    arch, dynamic = read_elf(binary)
    want = instance_arch(args.instance_type)
    if arch != want:
        raise Usage(f"--binary {binary} is built for {arch}, but {args.instance_type} "
                    f"is {want}: build for {want}-unknown-linux-musl or pick a matching instance type")
    if dynamic:
        print(f"{PROG}: note: {binary} is dynamically linked; it must run on EMR's Amazon Linux 2023 "
              f"(glibc 2.34). A static build ({want}-unknown-linux-musl) runs anywhere.", file=sys.stderr)
    if not DRIVER.is_file():
        raise Usage(f"the Spark driver {DRIVER} is missing (launch.py expects it in ../spark/)")


# --- talking to AWS -----------------------------------------------------------

def clients():
    """S3 and EMR clients from boto3's default chain (and AWS_ENDPOINT_URL)."""
    if os.environ.get("AWS_ENDPOINT_URL"):
        have = tuple(int(x) for x in re.findall(r"\d+", botocore.__version__)[:2])
        if have < (1, 31):
            # Older botocore ignores the variable and would talk to real AWS.
            raise Failure(f"AWS_ENDPOINT_URL is set but botocore {botocore.__version__} ignores it; "
                          "pip install 'boto3>=1.28'")
    # Standard retries back off on throttling, which a long status loop meets.
    config = Config(retries={"mode": "standard", "max_attempts": 5})
    try:
        # boto3 reads AWS_DEFAULT_REGION only; AWS_REGION, which the aws CLI
        # v2, the other SDKs and event-counter itself read, comes first, as there.
        session = boto3.session.Session(region_name=os.environ.get("AWS_REGION") or None)
        return session.client("s3", config=config), session.client("emr", config=config)
    except BotoCoreError as e:
        raise Failure(f"cannot make an AWS client: {one_line(str(e))} "
                      "(set AWS_REGION or AWS_DEFAULT_REGION, or a profile's region)")


def aws(what: str, call, **kwargs):
    """One AWS call; its error as one line naming the operation."""
    try:
        return call(**kwargs)
    except ClientError as e:
        err = e.response.get("Error", {})
        service = call.__self__.meta.service_model.service_id
        raise Failure(f"{what}: {service} {e.operation_name} failed: "
                      f"{err.get('Code', '?')}: {one_line(err.get('Message') or '')}")
    except BotoCoreError as e:
        raise Failure(f"{what}: {one_line(str(e))}")


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def upload(s3, path: Path, bucket: str, key: str) -> str:
    url = f"s3://{bucket}/{key}"
    with open(path, "rb") as body:
        # put_object rather than upload_file: one request, and a ClientError
        # (not S3UploadFailedError) when the bucket is missing. Fine up to 5 GB.
        aws(f"uploading {path.name} to {url}", s3.put_object, Bucket=bucket, Key=key, Body=body)
    return url


def spark_submit(args: argparse.Namespace, binary_url: str, driver_url: str,
                 region: str) -> list[str]:
    """The step's command line."""
    conf = {
        # One driver attempt: a shard is retried by Spark already, and a
        # second driver would only repeat a failure at the cluster's cost.
        "spark.yarn.maxAppAttempts": "1",
        # The binary signs S3 requests for AWS_REGION (us-east-1 when unset)
        # and EMR does not set it, so pass the cluster's region to the shards
        # (executors) and to the driver, which writes the merged result.
        "spark.executorEnv.AWS_REGION": region,
        "spark.yarn.appMasterEnv.AWS_REGION": region,
    }
    if args.threads:
        # One shard per executor at a time, using all its cores: count is
        # multi-threaded itself (see deploy/spark/README.md, Sizing).
        conf["spark.task.cpus"] = conf["spark.executor.cores"] = str(args.threads)
    cmd = ["spark-submit", "--deploy-mode", "cluster", "--files", binary_url]
    for key, value in conf.items():
        cmd += ["--conf", f"{key}={value}"]
    cmd += [driver_url, "--regions", args.regions, "--locations", *args.locations,
            "--shards", str(args.shards)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    # What changes what is counted, for the driver to give every shard.
    cmd += count_flags(args)
    return cmd + ["--output", args.output]


def cluster_request(args: argparse.Namespace, step_args: list[str]) -> dict:
    """RunJobFlow's parameters."""
    instances = {
        "InstanceGroups": [
            {"Name": "master", "InstanceRole": "MASTER", "Market": "ON_DEMAND",
             "InstanceType": args.master_instance_type or args.instance_type, "InstanceCount": 1},
            {"Name": "core", "InstanceRole": "CORE", "Market": "ON_DEMAND",
             "InstanceType": args.instance_type, "InstanceCount": args.instances},
        ],
        # The cluster ends after its last step: success ends the only step,
        # and a failure ends the cluster through ActionOnFailure below.
        "KeepJobFlowAliveWhenNoSteps": False,
        "TerminationProtected": False,
    }
    if args.subnet:
        instances["Ec2SubnetId"] = args.subnet
    return {
        "Name": args.name,
        "ReleaseLabel": args.release_label,
        "LogUri": args.log_uri,
        "Applications": [{"Name": "Spark"}],
        "ServiceRole": args.service_role,
        "JobFlowRole": args.instance_profile,
        "VisibleToAllUsers": True,
        "Instances": instances,
        "AutoTerminationPolicy": {"IdleTimeout": IDLE_TIMEOUT_SECONDS},
        "Steps": [{
            "Name": STEP_NAME,
            "ActionOnFailure": "TERMINATE_CLUSTER",
            "HadoopJarStep": {"Jar": "command-runner.jar", "Args": step_args},
        }],
        "Tags": [{"Key": "app", "Value": "event-counter"}],
    }


def launch(args: argparse.Namespace) -> int:
    check_launch(args)
    if args.threads is None:
        args.threads = vcpus(args.instance_type)
    if args.shards is None:
        # A few shards per node, so that a slow node does not hold up the end.
        args.shards = 3 * args.instances
    s3, emr = clients()
    region = emr.meta.region_name

    binary_url = upload(s3, Path(args.binary), args.code_bucket, args.code_prefix + BINARY_NAME)
    driver_url = upload(s3, DRIVER, args.code_bucket, args.code_prefix + DRIVER.name)
    print(f"uploaded {binary_url} and {driver_url}")

    step_args = spark_submit(args, binary_url, driver_url, region)
    started = aws("starting the cluster", emr.run_job_flow, **cluster_request(args, step_args))
    cluster_id = started["JobFlowId"]
    try:
        step_id = find_step(emr, cluster_id)
    except (Failure, KeyboardInterrupt) as e:
        # The cluster exists and runs its step whatever happens here.
        print(f"{PROG}: error: started cluster {cluster_id}, then: {e or 'interrupted'}", file=sys.stderr)
        print_how_to_follow(cluster_id, region, file=sys.stderr)
        return 1
    threads = f"{args.threads} threads each" if args.threads else "all cores each"
    print(f"started cluster {cluster_id} in {region}: {args.instances} x {args.instance_type} "
          f"core nodes, {args.release_label}")
    print(f"step {step_id}: {args.shards} shards, {threads}; result to {args.output}")
    print("the cluster terminates itself when the step ends, whether it succeeds or fails")
    print(f"step command: {shlex.join(step_args)}")
    if args.wait:
        return follow(emr, cluster_id, step_id, args.poll_seconds)
    print_how_to_follow(cluster_id, region)
    return 0


# --- following a cluster ------------------------------------------------------

def snapshot(emr, cluster_id: str, step_id: str) -> tuple[dict, dict]:
    cluster = aws(f"reading cluster {cluster_id}", emr.describe_cluster, ClusterId=cluster_id)["Cluster"]
    step = aws(f"reading step {step_id}", emr.describe_step, ClusterId=cluster_id, StepId=step_id)["Step"]
    return cluster, step


def find_step(emr, cluster_id: str) -> str:
    """The event-counter step of a cluster (the newest, should there be more)."""
    steps = aws(f"listing the steps of {cluster_id}", emr.list_steps, ClusterId=cluster_id)["Steps"]
    ours = [s for s in steps if s.get("Name") == STEP_NAME] or steps
    if not ours:
        raise Failure(f"cluster {cluster_id} has no steps: it was not started by launch.py")
    return ours[0]["Id"]  # ListSteps lists the newest first


def state(thing: dict) -> str:
    return thing.get("Status", {}).get("State", "?")


def reason(thing: dict) -> str:
    """Why a cluster or step is in its state, as one line ('' if not said)."""
    status = thing.get("Status", {})
    details = status.get("FailureDetails") or {}
    change = status.get("StateChangeReason") or {}
    parts = [details.get("Reason"), details.get("Message"), change.get("Code"), change.get("Message")]
    seen = []
    for part in parts:
        if part and one_line(part) not in seen:
            seen.append(one_line(part))
    return "; ".join(seen)


def took(timeline: dict) -> str:
    start = timeline.get("CreationDateTime") or timeline.get("StartDateTime")
    if not start:
        return "?"
    end = timeline.get("EndDateTime") or datetime.now(timezone.utc)
    seconds = int((end - start).total_seconds())
    h, m, s = seconds // 3600, seconds // 60 % 60, seconds % 60
    return f"{h}h {m:02}m {s:02}s" if h else f"{m}m {s:02}s" if m else f"{s}s"


def output_of(step: dict) -> str | None:
    """The --output of the step's command line."""
    argv = step.get("Config", {}).get("Args", [])
    return argv[argv.index("--output") + 1] if "--output" in argv[:-1] else None


def step_logs(cluster: dict, step_id: str) -> str:
    log_uri = cluster.get("LogUri")
    if not log_uri:
        return "no logs kept in S3: the cluster has no log URI (--log-uri)"
    # EMR reports s3n:// for what was given as s3://.
    base = re.sub(r"^s3n://", "s3://", log_uri).rstrip("/") + f"/{cluster['Id']}"
    return (f"logs (copied to S3 every few minutes): {base}/steps/{step_id}/ (spark-submit), "
            f"{base}/containers/ (the driver's and the shards' stderr)")


def report(cluster: dict, step: dict) -> int:
    """Prints where the run stands; returns the exit code it stands for."""
    step_id = step.get("Id", "?")
    why = reason(cluster)
    up = "ran" if state(cluster) in CLUSTER_ENDED else "up"
    print(f"cluster {cluster.get('Id')}: {state(cluster)}" + (f" ({why})" if why else "")
          + f", {up} {took(cluster.get('Status', {}).get('Timeline', {}))}")
    step_timeline = step.get("Status", {}).get("Timeline", {})
    ran = f", ran {took(step_timeline)}" if step_timeline.get("StartDateTime") else ""
    print(f"step {step_id}: {state(step)}{ran}")
    if state(step) == "COMPLETED":
        print(f"result: {output_of(step) or '(the step has no --output)'}")
        return 0
    if state(step) in STEP_FAILED or state(cluster) in CLUSTER_ENDED:
        why = reason(step) or reason(cluster) or "no reason given"
        print(f"failed: step {state(step)}, cluster {state(cluster)}: {why}")
        print(step_logs(cluster, step_id))
        if state(cluster) not in CLUSTER_ENDED:
            print("the cluster terminates itself (the step's ActionOnFailure is TERMINATE_CLUSTER)")
        return 1
    return EXIT_RUNNING


def follow(emr, cluster_id: str, step_id: str, poll_seconds: float) -> int:
    """Polls until the cluster ends or the step fails, printing each change."""
    region = emr.meta.region_name
    last = None
    try:
        while True:
            cluster, step = snapshot(emr, cluster_id, step_id)
            now = (state(cluster), state(step))
            if now != last:
                why = reason(cluster)
                print(f"{datetime.now().strftime('%Y-%m-%d %H:%M:%S')}  cluster {now[0]}"
                      + (f" ({why})" if why else "") + f", step {now[1]}", flush=True)
                last = now
            # A completed step still waits for the cluster to end, so that
            # "done" also means "no longer billed".
            if now[0] in CLUSTER_ENDED or now[1] in STEP_FAILED:
                break
            time.sleep(poll_seconds)
    except KeyboardInterrupt:
        print(f"\nstopped waiting; cluster {cluster_id} keeps going and terminates itself "
              "when its step ends, whether it succeeds or fails", file=sys.stderr)
        print_how_to_follow(cluster_id, region, file=sys.stderr)
        return 130
    except Failure as e:
        # A failed poll does not stop the cluster: say so, and how to go on.
        print(f"{PROG}: error: {e}", file=sys.stderr)
        print_how_to_follow(cluster_id, region, file=sys.stderr)
        return 1
    return report(cluster, step)


def print_how_to_follow(cluster_id: str, region: str, file=sys.stdout) -> None:
    here = os.path.relpath(__file__)
    here = here if not here.startswith("..") else os.path.abspath(__file__)
    print("follow it with:", file=file)
    print(f"  python {shlex.quote(here)} status {cluster_id} --wait", file=file)
    print(f"  aws emr describe-cluster --region {region} --cluster-id {cluster_id} "
          "--query Cluster.Status", file=file)


def status(args: argparse.Namespace) -> int:
    if args.poll_seconds <= 0:
        raise Usage(f"--poll-seconds {args.poll_seconds}: must be above 0")
    if not re.fullmatch(r"j-[A-Z0-9]+", args.cluster_id):
        raise Usage(f"{args.cluster_id}: not an EMR cluster id (j-...)")
    _, emr = clients()
    # DescribeCluster first: its error for a wrong id is the clearest.
    aws(f"reading cluster {args.cluster_id}", emr.describe_cluster, ClusterId=args.cluster_id)
    step_id = args.step or find_step(emr, args.cluster_id)
    if args.wait:
        return follow(emr, args.cluster_id, step_id, args.poll_seconds)
    cluster, step = snapshot(emr, args.cluster_id, step_id)
    code = report(cluster, step)
    if code == EXIT_RUNNING:
        print_how_to_follow(args.cluster_id, emr.meta.region_name)
    return code


# --- the command line ---------------------------------------------------------

def launch_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description=__doc__.split("\n\n")[0],
        epilog=f"then: {PROG} status CLUSTER_ID [--wait]. Exit codes: 0 launched (with --wait: "
               "the step completed), 1 an AWS error or a failed run, 2 a bad command line.")
    p.add_argument("--binary", required=True, help="the event-counter binary, a Linux build for the instance type")
    p.add_argument("--code", required=True, metavar="S3_PREFIX",
                   help="s3://bucket/prefix/ to upload the binary and the driver to (and the logs, by default)")
    p.add_argument("--regions", required=True, metavar="S3_URL", help="region.csv: s3://bucket/key")
    p.add_argument("--locations", required=True, nargs="+", metavar="S3_URL",
                   help="location files: s3://bucket/key or s3://bucket/prefix/, one or more")
    p.add_argument("--output", required=True, metavar="S3_URL", help="result.csv: s3://bucket/key")
    p.add_argument("--instance-type", default=DEFAULT_INSTANCE_TYPE, help="core nodes' type (default %(default)s)")
    p.add_argument("--master-instance-type", help="the master node's type (default: --instance-type)")
    p.add_argument("--instances", type=int, default=2, help="core nodes (default %(default)s)")
    p.add_argument("--shards", type=int, help="shards (default: 3 per core node)")
    p.add_argument("--threads", type=int,
                   help="threads per shard (default: the instance type's vCPUs where known, else all cores)")
    add_count_options(p)
    p.add_argument("--release-label", default=DEFAULT_RELEASE_LABEL, help="EMR release (default %(default)s)")
    p.add_argument("--name", default="event-counter", help="cluster name (default %(default)s)")
    p.add_argument("--log-uri", metavar="S3_PREFIX", help="where EMR keeps logs (default: <--code>logs/)")
    p.add_argument("--subnet", help="EC2 subnet id (default: the default VPC's)")
    p.add_argument("--service-role", default="EMR_DefaultRole", help="EMR's service role (default %(default)s)")
    p.add_argument("--instance-profile", default="EMR_EC2_DefaultRole",
                   help="the nodes' instance profile, which gives S3 access (default %(default)s)")
    add_wait_flags(p)
    return p


def status_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{PROG} status", description="Reports on a cluster started by launch.py.",
        epilog=f"Exit codes: 0 the step completed, 1 it failed (or an AWS error), 2 a bad command line, "
               f"{EXIT_RUNNING} still running (without --wait).")
    p.add_argument("cluster_id", metavar="CLUSTER_ID", help="j-...")
    p.add_argument("--step", help="the step id (default: the cluster's event-counter step)")
    add_wait_flags(p)
    return p


def add_wait_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait", action="store_true", help="follow the cluster until it ends or the step fails")
    p.add_argument("--poll-seconds", type=float, default=30.0, help="seconds between polls (default %(default)s)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["status"]:
            return status(status_parser().parse_args(argv[1:]))
        return launch(launch_parser().parse_args(argv))
    except Usage as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except Failure as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Before the cluster exists (uploading) or after it was reported.
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
