"""boto3 (Debian's python3-boto3) signing with a clock that is off by N minutes; print one JSON line for mocha.

Usage: boto3_skew.py <endpoint> <access key id> <secret> <minutes>...
For each offset: SQS ListQueues and SNS ListTopics signed (SigV4 headers) as if the clock were that far off; each
answer as [HTTP status, error code, message] (["ok"] on success). botocore reads the signing time from
datetime.datetime.utcnow() in botocore.auth, which is what is shifted here (no retries).
"""
import datetime
import json
import sys

import boto3
import botocore.auth
import botocore.exceptions
from botocore.config import Config

endpoint, key, secret = sys.argv[1], sys.argv[2], sys.argv[3]
REAL = datetime.datetime


def shifted(minutes):
    class Clock(REAL):
        @classmethod
        def utcnow(cls):
            return REAL.utcnow() + datetime.timedelta(minutes=minutes)

    return Clock


def call(service, minutes):
    c = boto3.client(service, endpoint_url=endpoint, region_name='us-east-1', aws_access_key_id=key,
                     aws_secret_access_key=secret, config=Config(retries={'max_attempts': 1}))
    botocore.auth.datetime.datetime = shifted(minutes)
    try:
        c.list_queues() if service == 'sqs' else c.list_topics()
        return ['ok']
    except botocore.exceptions.ClientError as e:
        return [e.response['ResponseMetadata']['HTTPStatusCode'], e.response['Error'].get('Code'), e.response['Error'].get('Message')]
    finally:
        botocore.auth.datetime.datetime = REAL


out = {}
for m in sys.argv[4:]:
    out[m] = {'sqs': call('sqs', int(m)), 'sns': call('sns', int(m))}
print(json.dumps(out), flush=True)
