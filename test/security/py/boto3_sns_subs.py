"""Someone else's SNS subscription with boto3 (Debian's python3-boto3); print one JSON line for mocha.

Usage: boto3_sns_subs.py <endpoint> <owner key> <owner secret> <other key> <other secret> <tag>
The owner makes topic t-<tag>, queue q-<tag> and subscribes the queue; the other user (no rights on the topic) lists
the subscriptions, then tries Unsubscribe and SetSubscriptionAttributes on it. Each answer as [HTTP status, code]
(["ok"] on success); then whether the subscription is still there and still delivers.
"""
import json
import sys

import boto3
import botocore.exceptions
from botocore.config import Config

endpoint, okey, osecret, xkey, xsecret, tag = sys.argv[1:7]


def client(service, key, secret):
    return boto3.client(service, endpoint_url=endpoint, region_name='us-east-1', aws_access_key_id=key,
                        aws_secret_access_key=secret, config=Config(retries={'max_attempts': 1}))


def attempt(f):
    try:
        f()
        return ['ok']
    except botocore.exceptions.ClientError as e:
        return [e.response['ResponseMetadata']['HTTPStatusCode'], e.response['Error'].get('Code')]


sns, sqs = client('sns', okey, osecret), client('sqs', okey, osecret)
other = client('sns', xkey, xsecret)
topic = sns.create_topic(Name=f't-{tag}')['TopicArn']
queue = sqs.create_queue(QueueName=f'q-{tag}')['QueueUrl']
qarn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
sub = sns.subscribe(TopicArn=topic, Protocol='sqs', Endpoint=qarn, ReturnSubscriptionArn=True)['SubscriptionArn']
out = {
    'listed': any(s['SubscriptionArn'] == sub for s in other.list_subscriptions()['Subscriptions']),
    'setAttributes': attempt(lambda: other.set_subscription_attributes(SubscriptionArn=sub, AttributeName='RawMessageDelivery', AttributeValue='true')),
    'unsubscribe': attempt(lambda: other.unsubscribe(SubscriptionArn=sub)),
}
out['raw'] = sns.get_subscription_attributes(SubscriptionArn=sub)['Attributes'].get('RawMessageDelivery')
sns.publish(TopicArn=topic, Message='still-subscribed')
got = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5).get('Messages', [])
out['delivered'] = [json.loads(m['Body']).get('Message') for m in got]
out['ownerUnsubscribe'] = attempt(lambda: sns.unsubscribe(SubscriptionArn=sub))
print(json.dumps(out), flush=True)
