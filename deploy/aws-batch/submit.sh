#!/usr/bin/env sh
# event-counter as an AWS Batch array job: N children count one shard each
# (AWS_BATCH_JOB_ARRAY_INDEX = 0..N-1) into s3://my-bucket/parts/, then a
# job that depends on the whole array merges the parts into result.csv.
# The job role (see job-definition.json) supplies the S3 credentials.
set -eu
N=16
QUEUE=my-queue

aws batch register-job-definition --cli-input-json file://job-definition.json >/dev/null

array=$(aws batch submit-job --job-name event-counter-shards --job-queue "$QUEUE" \
  --job-definition event-counter --array-properties size=$N \
  --container-overrides "environment=[{name=SHARDS,value=$N}]" \
  --query jobId --output text)

parts=$(i=0; while [ $i -lt $N ]; do printf 's3://my-bucket/parts/part-%s.csv ' $i; i=$((i+1)); done)
aws batch submit-job --job-name event-counter-merge --job-queue "$QUEUE" \
  --job-definition event-counter --depends-on "jobId=$array" \
  --container-overrides "command=[\"sh\",\"-c\",\"event-counter merge -d -o s3://my-bucket/result.csv $parts\"]"
