#!/usr/bin/env python3
"""Tests deploy/emr/launch.py against moto, as a user would run it.

    EVENT_COUNTER_MOTO=/path/to/venv/bin/moto_server python deploy/emr/test_launch.py

Needs boto3 and moto[server] in the Python that runs it; when they are
missing there but EVENT_COUNTER_MOTO is a venv's moto_server, it reruns
itself with that venv's python. Prints one line per check passed and ends
with "emr launcher: all checks passed"; exits 1 at the first failed check.

Two servers:

- moto_server (EVENT_COUNTER_MOTO, default: on PATH), started on a free
  loopback port with moto's request recorder on: uploads, the cluster
  request, the step, validation and AWS errors, `status`, and `--wait`
  ended by terminating the cluster through the API, which moto allows.
- moto in this process (ThreadedMotoServer), for the two ends moto never
  reaches by itself: its EMR model starts a cluster's first step as RUNNING,
  puts the cluster in WAITING, and changes neither again; only
  TerminateJobFlows moves the cluster (to TERMINATED), and no step ever
  becomes COMPLETED or FAILED. Here the test sets those states in moto's
  model, as EMR would, while the launcher polls over HTTP.
"""

import base64
import json
import logging
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
LAUNCH = HERE / "launch.py"
DRIVER = HERE.parent / "spark" / "event_counter_spark.py"
MOTO = os.environ.get("EVENT_COUNTER_MOTO", "moto_server")
REGION = "eu-west-1"  # not us-east-1, so that a default cannot pass for it
ACCOUNT = "123456789012"  # moto's
CODE = "s3://code-bucket/ec/v1/"
INPUT = ["--regions", "s3://data-bucket/in/region.csv",
         "--locations", "s3://data-bucket/in/events/", "s3://data-bucket/more/extra.csv.gz",
         "--output", "s3://data-bucket/out/result.csv"]


def reexec_with_moto_python():
    """Reruns this script with the python next to moto_server when this one
    lacks boto3 or moto."""
    try:
        import boto3  # noqa: F401
        import moto  # noqa: F401
    except ImportError as e:
        python = Path(MOTO).parent / "python"
        if python.is_file() and not os.environ.get("EMR_TEST_REEXEC"):
            os.environ["EMR_TEST_REEXEC"] = "1"  # once only
            os.execv(str(python), [str(python), __file__, *sys.argv[1:]])
        sys.exit(f"test_launch.py: {e}: run it with a Python that has moto[server] "
                 "(pip install 'moto[server]'), or set EVENT_COUNTER_MOTO to a venv's moto_server")


def check(name, ok, detail=""):
    if not ok:
        raise AssertionError(f"{name}{': ' + str(detail) if detail else ''}")
    print(f"ok: {name}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_answers(endpoint, proc=None, seconds=30):
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=2).read()
            return
        except urllib.error.HTTPError:
            return  # an HTTP answer of any kind: it is up
        except (urllib.error.URLError, ConnectionError, socket.timeout):
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"{MOTO} exited with {proc.returncode}")
            if time.monotonic() > deadline:
                raise AssertionError(f"moto did not answer on {endpoint} within {seconds}s")
            time.sleep(0.1)


def fake_binary(path, machine=62, payload=b"event-counter test build\n"):
    """A file with a 64-bit little-endian ELF header for `machine` (62
    x86-64, 183 aarch64) and no program headers: enough for launch.py."""
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    header[18:20] = machine.to_bytes(2, "little")
    path.write_bytes(bytes(header) + payload)
    return path


def launcher(args, env, timeout=60):
    """Runs launch.py to the end: (exit code, stdout, stderr)."""
    done = subprocess.run([sys.executable, str(LAUNCH), *args], env=env, capture_output=True,
                          text=True, timeout=timeout)
    return done.returncode, done.stdout, done.stderr


class Running:
    """launch.py running in the background, its output (stdout and stderr
    together) read line by line. Killed at the end of the test at the latest."""

    started = []

    def __init__(self, args, env):
        Running.started.append(self)
        self.proc = subprocess.Popen([sys.executable, "-u", str(LAUNCH), *args], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self._queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern, seconds=20):
        """The first line (from the start) matching pattern; fails after `seconds`."""
        deadline = time.monotonic() + seconds
        while True:
            for line in self.lines:
                if re.search(pattern, line):
                    return line
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                raise AssertionError(f"no line matching {pattern!r} in {seconds}s; got:\n{self.text()}")
            if line is None:
                raise AssertionError(f"launch.py ended without a line matching {pattern!r}:\n{self.text()}")
            self.lines.append(line)

    def finish(self, seconds=20):
        """(exit code, all output)."""
        try:
            code = self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"launch.py did not end within {seconds}s:\n{self.text()}")
        while (line := self._queue.get(timeout=5)) is not None:
            self.lines.append(line)
        return code, self.text()

    def text(self):
        return "".join(self.lines)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def aws_env(endpoint):
    env = dict(os.environ)
    for key in [k for k in env if k.startswith("AWS_")]:
        del env[key]  # nothing from the caller's AWS set-up may leak in
    env.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION,
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    return env


def clients(endpoint):
    import boto3
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name=REGION)
    return (session.client("s3", endpoint_url=endpoint), session.client("emr", endpoint_url=endpoint))


def make_buckets(s3):
    for bucket in ("code-bucket", "data-bucket"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})


def one_line_error(name, code, out, err, want_code, *needles):
    check(f"{name}: exit code {want_code}", code == want_code, f"got {code}; stderr {err!r}")
    lines = err.strip("\n").split("\n")
    check(f"{name}: one line on stderr", len(lines) == 1 and lines[0].startswith("launch.py: error: "),
          repr(err))
    for needle in needles:
        check(f"{name}: says {needle!r}", needle in err, repr(err))
    check(f"{name}: nothing on stdout", out == "", repr(out))


def recorded_run_job_flows(recording):
    """The bodies of the RunJobFlow requests moto recorded."""
    found = []
    for line in Path(recording).read_text().splitlines():
        entry = json.loads(line)
        target = {k.lower(): v for k, v in entry["headers"].items()}.get("x-amz-target", "")
        if target.endswith(".RunJobFlow"):
            body = entry["body"]
            if entry.get("body_encoded"):
                body = base64.b64decode(body).decode()
            found.append(json.loads(body))
    return found


def conf_of(argv):
    return dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--conf")


# --- against moto_server ------------------------------------------------------

def test_validation(env, tmp, s3, emr):
    good = fake_binary(tmp / "event-counter")
    base = ["--binary", str(good), "--code", CODE, *INPUT]

    def swap(flag, *values, argv=base):
        argv = list(argv)
        i = argv.index(flag)
        j = i + 1
        while j < len(argv) and not argv[j].startswith("--"):
            j += 1
        return argv[:i + 1] + list(values) + argv[j:]

    cases = [
        ("--code not s3://", swap("--code", "/tmp/code/"), "--code /tmp/code/: not an s3:// URL"),
        ("--locations not s3://", swap("--locations", "s3://data-bucket/a.csv", "events/"),
         "--locations events/: not an s3:// URL"),
        ("--regions a prefix", swap("--regions", "s3://data-bucket/in/"),
         "--regions s3://data-bucket/in/: must name an object"),
        ("--output ending in /", swap("--output", "s3://data-bucket/out/"),
         "--output s3://data-bucket/out/: must name an object"),
        ("--binary missing", swap("--binary", str(tmp / "nope")), "no such file"),
        ("--binary not ELF", swap("--binary", str(DRIVER)), "not a Linux (ELF) executable"),
        ("--binary for aarch64 on m6i", swap("--binary", str(fake_binary(tmp / "arm", machine=183))),
         "built for aarch64, but m6i.4xlarge is x86_64"),
        ("--instances 0", base + ["--instances", "0"], "--instances 0: must be at least 1"),
        ("--output is --regions", swap("--output", "s3://data-bucket/in/region.csv"),
         "--output s3://data-bucket/in/region.csv is --regions s3://data-bucket/in/region.csv"),
        ("--output is --regions, spelled with //", swap("--output", "s3://data-bucket//in//region.csv"),
         "--output s3://data-bucket//in//region.csv is --regions s3://data-bucket/in/region.csv"),
        ("--output under a --locations prefix", swap("--output", "s3://data-bucket/in/events/result.csv"),
         "--output s3://data-bucket/in/events/result.csv is under --locations s3://data-bucket/in/events/"),
        ("--output is a --locations key", swap("--output", "s3://data-bucket/more/extra.csv.gz"),
         "--output s3://data-bucket/more/extra.csv.gz is --locations s3://data-bucket/more/extra.csv.gz"),
        ("--output under a --locations prefix spelled with //",
         swap("--output", "s3://data-bucket/in/events/2025/result.csv",
              argv=swap("--locations", "s3://data-bucket//in//events//")),
         "--output s3://data-bucket/in/events/2025/result.csv is under --locations s3://data-bucket//in//events//"),
        ("--output in a bucket given whole as --locations", swap("--locations", "s3://data-bucket/"),
         "--output s3://data-bucket/out/result.csv is under --locations s3://data-bucket/"),
        # Beside an input but not in it: refused only for --instances 0, a
        # check made after the output's.
        ("--output next to the inputs is fine", swap("--output", "s3://data-bucket/in/events-result.csv")
         + ["--instances", "0"], "--instances 0: must be at least 1"),
    ]
    for name, argv, needle in cases:
        one_line_error(name, *launcher(argv, env), 2, needle)
    code, out, err = launcher(base + ["--bogus"], env)
    check("unknown flag: argparse's exit code 2", code == 2 and "unrecognized arguments: --bogus" in err, err)
    code, out, err = launcher(["status", "not-a-cluster"], env)
    one_line_error("status with a bad cluster id", code, out, err, 2, "not an EMR cluster id")
    check("no cluster was started by a bad command line",
          emr.list_clusters()["Clusters"] == [], emr.list_clusters()["Clusters"])
    check("nothing was uploaded by a bad command line",
          s3.list_objects_v2(Bucket="code-bucket").get("KeyCount") == 0)


def test_aws_errors(env, tmp, emr):
    binary = fake_binary(tmp / "event-counter")
    code, out, err = launcher(["--binary", str(binary), "--code", "s3://no-such-bucket/ec/", *INPUT], env)
    one_line_error("missing code bucket", code, out, err, 1, "S3 PutObject failed: NoSuchBucket",
                   "s3://no-such-bucket/ec/event-counter")
    check("no cluster was started when the upload failed", emr.list_clusters()["Clusters"] == [])
    code, out, err = launcher(["status", "j-NOSUCHCLUSTER1"], env)
    one_line_error("status of a missing cluster", code, out, err, 1, "EMR DescribeCluster failed",
                   "j-NOSUCHCLUSTER1")


def test_launch(env, tmp, s3, emr, recording):
    """A launch without --wait: what it uploads, asks for and prints."""
    binary = fake_binary(tmp / "my-build", payload=os.urandom(4096))
    code, out, err = launcher(["--binary", str(binary), "--code", CODE.rstrip("/"), *INPUT,
                               "--instances", "3", "--subnet", "subnet-0123456789abcdef0",
                               "--name", "ec-test", "--time-zone", "Pacific/Auckland", "--epoch", "s",
                               "--delimiter", ";", "--strict"], env)
    check("launch without --wait: exit code 0", code == 0, f"{code}\n{out}\n{err}")
    check("launch without --wait: nothing on stderr", err == "", err)

    got = s3.get_object(Bucket="code-bucket", Key="ec/v1/event-counter")["Body"].read()
    check("the binary is uploaded as <code>/event-counter, byte for byte", got == binary.read_bytes())
    got = s3.get_object(Bucket="code-bucket", Key="ec/v1/event_counter_spark.py")["Body"].read()
    check("the Spark driver is uploaded next to it", got == DRIVER.read_bytes())

    clusters = emr.list_clusters()["Clusters"]
    check("one cluster started", len(clusters) == 1, clusters)
    cid = clusters[0]["Id"]
    cluster = emr.describe_cluster(ClusterId=cid)["Cluster"]
    check("cluster name", cluster["Name"] == "ec-test", cluster["Name"])
    check("release label: a current emr-7.x by default", re.fullmatch(r"emr-7\.\d+\.\d+", cluster["ReleaseLabel"]),
          cluster["ReleaseLabel"])
    check("applications: Spark", [a["Name"] for a in cluster["Applications"]] == ["Spark"], cluster["Applications"])
    check("terminates when its steps are done (AutoTerminate)", cluster["AutoTerminate"] is True)
    check("no termination protection", cluster["TerminationProtected"] is False)
    check("roles: EMR_DefaultRole and EMR_EC2_DefaultRole",
          cluster["ServiceRole"] == "EMR_DefaultRole"
          and cluster["Ec2InstanceAttributes"]["IamInstanceProfile"] == "EMR_EC2_DefaultRole")
    check("subnet", cluster["Ec2InstanceAttributes"]["Ec2SubnetId"] == "subnet-0123456789abcdef0")
    check("logs next to the code by default", cluster["LogUri"] == "s3://code-bucket/ec/v1/logs/", cluster["LogUri"])
    groups = {g["InstanceGroupType"]: g for g in emr.list_instance_groups(ClusterId=cid)["InstanceGroups"]}
    check("3 core nodes of m6i.4xlarge", groups["CORE"]["InstanceType"] == "m6i.4xlarge"
          and groups["CORE"]["RequestedInstanceCount"] == 3, groups.get("CORE"))
    check("1 master node", groups["MASTER"]["RequestedInstanceCount"] == 1, groups.get("MASTER"))

    # What moto does not keep, from the request itself.
    requests = recorded_run_job_flows(recording)
    check("one RunJobFlow request recorded", len(requests) == 1, len(requests))
    request = requests[0]
    check("KeepJobFlowAliveWhenNoSteps is false", request["Instances"]["KeepJobFlowAliveWhenNoSteps"] is False)
    policy = request.get("AutoTerminationPolicy", {})
    check("an AutoTerminationPolicy idle timeout as a safety net",
          0 < policy.get("IdleTimeout", 0) <= 7 * 86400, policy)

    steps = emr.list_steps(ClusterId=cid)["Steps"]
    check("one step", len(steps) == 1, steps)
    step = emr.describe_step(ClusterId=cid, StepId=steps[0]["Id"])["Step"]
    check("the step terminates the cluster on failure", step["ActionOnFailure"] == "TERMINATE_CLUSTER")
    check("the step runs command-runner.jar", step["Config"]["Jar"] == "command-runner.jar")
    argv = step["Config"]["Args"]
    check("spark-submit --deploy-mode cluster --files <the uploaded binary>",
          argv[:5] == ["spark-submit", "--deploy-mode", "cluster",
                       "--files", "s3://code-bucket/ec/v1/event-counter"], argv)
    driver_at = argv.index("s3://code-bucket/ec/v1/event_counter_spark.py")
    # The count's options reach the driver (they did not: event times were
    # counted by their UTC day, epoch numbers were all malformed).
    check("the driver's arguments: inputs, 9 shards (3 per node), 16 threads (m6i.4xlarge's vCPUs), "
          "the count's options, output",
          argv[driver_at + 1:] == ["--regions", "s3://data-bucket/in/region.csv",
                                   "--locations", "s3://data-bucket/in/events/", "s3://data-bucket/more/extra.csv.gz",
                                   "--shards", "9", "--threads", "16",
                                   "--time-zone", "Pacific/Auckland", "--epoch", "s", "--delimiter", ";",
                                   "--strict",
                                   "--output", "s3://data-bucket/out/result.csv"], argv[driver_at:])
    conf = conf_of(argv[:driver_at])
    check("spark.task.cpus = spark.executor.cores = --threads",
          conf.get("spark.task.cpus") == conf.get("spark.executor.cores") == "16", conf)
    check("AWS_REGION for the shards and the driver is the cluster's region",
          conf.get("spark.executorEnv.AWS_REGION") == conf.get("spark.yarn.appMasterEnv.AWS_REGION") == REGION, conf)
    check("the request's step is the one moto holds", request["Steps"][0]["HadoopJarStep"]["Args"] == argv
          and request["Steps"][0]["ActionOnFailure"] == "TERMINATE_CLUSTER")

    check("prints the cluster id and the step id", cid in out and step["Id"] in out, out)
    check("prints how to follow it with launch.py status",
          re.search(rf"python \S*launch\.py status {cid}\b", out), out)
    check("prints the aws emr describe-cluster line",
          f"aws emr describe-cluster --region {REGION} --cluster-id {cid}" in out, out)
    check("says the cluster terminates itself", "terminates itself" in out, out)
    return cid, step["Id"]


def test_status(env, cid, sid):
    code, out, err = launcher(["status", cid], env)
    check("status while running: exit code 3", code == 3, f"{code}\n{out}\n{err}")
    check("status while running: the states moto reports (WAITING, RUNNING)",
          f"cluster {cid}: WAITING" in out and f"step {sid}: RUNNING" in out, out)
    check("status while running: how to follow", f"status {cid} --wait" in out, out)

    only_region = {k: v for k, v in env.items() if k != "AWS_DEFAULT_REGION"}
    code, out, err = launcher(["status", cid], dict(only_region, AWS_REGION=REGION))
    check("AWS_REGION alone sets the region, as for the aws CLI",
          code == 3 and f"--region {REGION} " in out, f"{code}\n{out}\n{err}")
    code, out, err = launcher(["status", cid], only_region)
    one_line_error("no region at all", code, out, err, 1, "You must specify a region")

    follow = Running(["status", cid, "--wait", "--poll-seconds", "0.2"], env)
    follow.wait_for(r"cluster WAITING, step RUNNING")
    follow.proc.send_signal(signal.SIGINT)
    code, text = follow.finish()
    check("Ctrl-C while waiting: exit code 130", code == 130, f"{code}\n{text}")
    check("Ctrl-C while waiting: says the cluster keeps going and terminates itself",
          "keeps going and terminates itself" in text and f"status {cid} --wait" in text, text)


def test_wait_terminated(env, tmp, emr):
    """--wait until the cluster ends; moto ends it only through the API, and
    leaves the step RUNNING: a run that did not complete."""
    binary = fake_binary(tmp / "event-counter")
    run = Running(["--binary", str(binary), "--code", "s3://code-bucket/ec/v2/", *INPUT,
                   "--instance-type", "x2iedn.8xlarge", "--instances", "2",
                   "--wait", "--poll-seconds", "0.2"], env)
    cid = re.search(r"started cluster (j-\w+)", run.wait_for(r"started cluster j-")).group(1)
    run.wait_for(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  cluster WAITING, step RUNNING$")
    sid = emr.list_steps(ClusterId=cid)["Steps"][0]["Id"]
    argv = emr.describe_step(ClusterId=cid, StepId=sid)["Step"]["Config"]["Args"]
    check("unknown instance type: no --threads and no spark.task.cpus, so count uses every core",
          "--threads" not in argv and "spark.task.cpus" not in conf_of(argv), argv)
    check("shards default to 3 per core node", argv[argv.index("--shards") + 1] == "6", argv)
    emr.terminate_job_flows(JobFlowIds=[cid])
    code, text = run.finish()
    check("--wait: sees the cluster end, with a timestamp",
          re.search(r"(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  cluster TERMINATED, step RUNNING$", text), text)
    check("--wait: a step that never completed is a failure (exit code 1)", code == 1, f"{code}\n{text}")
    check("--wait: says so, and where the logs are",
          "failed: step RUNNING, cluster TERMINATED" in text
          and f"s3://code-bucket/ec/v2/logs/{cid}/steps/{sid}/" in text, text)
    check("--wait: prints the final states and the time taken",
          re.search(rf"cluster {cid}: TERMINATED, ran \d+s", text) and f"step {sid}: RUNNING" in text, text)


# --- against moto in this process, where the test sets states --------------------

def test_completed_and_failed(tmp):
    from moto.backends import get_backend
    from moto.core.utils import utcnow
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log on stderr
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        env = aws_env(endpoint)
        s3, emr = clients(endpoint)
        make_buckets(s3)
        binary = fake_binary(tmp / "event-counter")

        def start():
            code, out, err = launcher(["--binary", str(binary), "--code", CODE, *INPUT,
                                       "--log-uri", "s3://data-bucket/logs/"], env)
            check("in-process moto: launched", code == 0, f"{code}\n{out}\n{err}")
            cid = re.search(r"started cluster (j-\w+)", out).group(1)
            # moto's EMR reads the region from the endpoint's host name, so a
            # loopback endpoint lands in its default region.
            for region in (REGION, "us-east-1"):
                cluster = get_backend("emr")[ACCOUNT][region].clusters.get(cid)
                if cluster:
                    return cid, cluster
            raise AssertionError(f"{cid} not in moto's model")

        # Success: the step completes, then the cluster terminates itself.
        cid, cluster = start()
        run = Running(["status", cid, "--wait", "--poll-seconds", "0.2"], env)
        run.wait_for(r"cluster WAITING, step RUNNING$")
        step = cluster.steps[0]
        step.state, step.end_date_time = "COMPLETED", utcnow()
        step.start_date_time = step.start_date_time or step.creation_date_time
        run.wait_for(r"cluster WAITING, step COMPLETED$")
        cluster.last_state_change_reason = "Steps completed"
        cluster.terminate()
        code, text = run.finish()
        check("step COMPLETED then cluster TERMINATED: exit code 0", code == 0, f"{code}\n{text}")
        check("--wait kept waiting after the step completed, until the cluster ended",
              re.search(r"(?m)cluster TERMINATED \(Steps completed\), step COMPLETED$", text), text)
        check("says where the result is", "result: s3://data-bucket/out/result.csv" in text, text)
        code, out, _ = launcher(["status", cid], env)
        check("status of a completed run: exit code 0 and the result",
              code == 0 and "result: s3://data-bucket/out/result.csv" in out, f"{code}\n{out}")

        # Failure: the step fails; the launcher stops at once with the reason.
        cid, cluster = start()
        run = Running(["status", cid, "--wait", "--poll-seconds", "0.2"], env)
        run.wait_for(r"cluster WAITING, step RUNNING$")
        step = cluster.steps[0]
        step.last_state_change_reason = "shard 3/6 exited 66: s3://data-bucket/in/region.csv: no such object"
        step.state, step.end_date_time = "FAILED", utcnow()
        cluster.state = "TERMINATING"
        code, text = run.finish()
        check("step FAILED: exit code 1 without waiting for the cluster to end", code == 1, f"{code}\n{text}")
        check("step FAILED: prints the reason",
              "failed: step FAILED, cluster TERMINATING: shard 3/6 exited 66" in text, text)
        check("step FAILED: prints where the logs are and that the cluster terminates itself",
              f"s3://data-bucket/logs/{cid}/steps/{step.id}/" in text
              and f"s3://data-bucket/logs/{cid}/containers/" in text
              and "the cluster terminates itself" in text, text)
    finally:
        server.stop()


def main():
    reexec_with_moto_python()
    try:
        return run_all()
    finally:
        for run in Running.started:
            run.kill()  # a launcher left polling by a failed check


def run_all():
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="emr-launch-test-") as tmp:
        tmp = Path(tmp)
        recording = tmp / "moto-recording.jsonl"
        port = free_port()
        endpoint = f"http://127.0.0.1:{port}"
        log = open(tmp / "moto.log", "w")
        server_env = dict(os.environ, MOTO_ENABLE_RECORDING="true", MOTO_RECORDER_FILEPATH=str(recording))
        try:
            moto = subprocess.Popen([MOTO, "-H", "127.0.0.1", "-p", str(port)], stdout=log,
                                    stderr=subprocess.STDOUT, env=server_env)
        except OSError as e:
            sys.exit(f"test_launch.py: cannot start {MOTO}: {e} (pip install 'moto[server]', "
                     "or set EVENT_COUNTER_MOTO)")
        try:
            wait_until_answers(endpoint, moto)
            print(f"ok: moto_server answers on {endpoint}", flush=True)
            env = aws_env(endpoint)
            s3, emr = clients(endpoint)
            make_buckets(s3)
            test_validation(env, tmp, s3, emr)
            test_aws_errors(env, tmp, emr)
            cid, sid = test_launch(env, tmp, s3, emr, recording)
            test_status(env, cid, sid)
            test_wait_terminated(env, tmp, emr)
        except AssertionError as e:
            print(f"FAILED: {e}", file=sys.stderr)
            print(f"moto_server's log: {(tmp / 'moto.log').read_text()[-2000:]}", file=sys.stderr)
            return 1
        finally:
            moto.terminate()
            try:
                moto.wait(timeout=10)
            except subprocess.TimeoutExpired:
                moto.kill()
                moto.wait()
            log.close()
        try:
            test_completed_and_failed(tmp)
        except AssertionError as e:
            print(f"FAILED: {e}", file=sys.stderr)
            return 1
    print(f"ok: all in {time.monotonic() - started:.1f} s")
    print("emr launcher: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
