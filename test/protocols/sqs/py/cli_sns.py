"""aws sns: topics (standard and FIFO), attributes, SQS subscriptions (raw, enveloped, filtered), publish with
attributes, subject and --message-structure json, what lands in each queue, unsubscribe, tags, delete, errors."""
import json

from awscli_steps import main
from sqs_md5 import check_message

ARN = 'arn:aws:sqs:us-east-1:000000000000:'


def drain(s, name, url, want, wait='2'):
    """Receive (and delete) until `want` messages came or a receive came back empty."""
    got = []
    while len(got) < want:
        r = s.aws(name + '-%d' % len(got), 'sqs', 'receive-message', '--queue-url', url, '--max-number-of-messages', '10',
                  '--message-attribute-names', 'All', '--attribute-names', 'All', '--wait-time-seconds', wait)
        msgs = (r or {}).get('Messages', [])
        if not msgs:
            break
        got += msgs
        s.aws(name + '-delete-%d' % len(got), 'sqs', 'delete-message-batch', '--queue-url', url, '--entries',
              json.dumps([{'Id': str(i), 'ReceiptHandle': m['ReceiptHandle']} for i, m in enumerate(msgs)]))
    return s.note(name, got)


def scenario(s):
    topic = s.aws('create-topic', 'sns', 'create-topic', '--name', 'cli-events', '--attributes', 'DisplayName=Events',
                  '--tags', 'Key=team,Value=core')['TopicArn']
    s.aws('create-topic-again', 'sns', 'create-topic', '--name', 'cli-events')
    # empty --attributes / --tags go out as `Attributes=` / `Tags=` (botocore's query serializer)
    s.aws('create-topic-empty', 'sns', 'create-topic', '--name', 'cli-plain', '--attributes', '{}', '--tags', '[]')
    fifo = s.aws('create-fifo-topic', 'sns', 'create-topic', '--name', 'cli-events.fifo', '--attributes',
                 'FifoTopic=true,ContentBasedDeduplication=true')['TopicArn']
    s.aws('list-topics', 'sns', 'list-topics')
    s.aws('topic-attrs', 'sns', 'get-topic-attributes', '--topic-arn', topic)
    s.aws('set-topic-attr', 'sns', 'set-topic-attributes', '--topic-arn', topic, '--attribute-name', 'DisplayName', '--attribute-value', 'Renamed')
    s.aws('topic-attrs-after', 'sns', 'get-topic-attributes', '--topic-arn', topic)
    s.aws('fifo-topic-attrs', 'sns', 'get-topic-attributes', '--topic-arn', fifo)

    q = {}
    for name in ['cli-raw', 'cli-env', 'cli-filtered']:
        q[name] = s.aws('create-' + name, 'sqs', 'create-queue', '--queue-name', name)['QueueUrl']
    q['cli-ordered.fifo'] = s.aws('create-fifo-q', 'sqs', 'create-queue', '--queue-name', 'cli-ordered.fifo', '--attributes', 'FifoQueue=true')['QueueUrl']
    # what a user sets so that the topic may send to the queue (stored, not enforced)
    policy = {'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Principal': {'Service': 'sns.amazonaws.com'}, 'Action': 'sqs:SendMessage',
                                                      'Resource': ARN + 'cli-env', 'Condition': {'ArnEquals': {'aws:SourceArn': topic}}}]}
    s.aws('queue-policy', 'sqs', 'set-queue-attributes', '--queue-url', q['cli-env'], '--attributes', json.dumps({'Policy': json.dumps(policy)}))

    raw = s.aws('sub-raw', 'sns', 'subscribe', '--topic-arn', topic, '--protocol', 'sqs', '--notification-endpoint', ARN + 'cli-raw',
                '--attributes', 'RawMessageDelivery=true', '--return-subscription-arn')['SubscriptionArn']
    env = s.aws('sub-env', 'sns', 'subscribe', '--topic-arn', topic, '--protocol', 'sqs', '--notification-endpoint', ARN + 'cli-env')['SubscriptionArn']
    filt = s.aws('sub-filtered', 'sns', 'subscribe', '--topic-arn', topic, '--protocol', 'sqs', '--notification-endpoint', ARN + 'cli-filtered',
                 '--attributes', json.dumps({'RawMessageDelivery': 'true', 'FilterPolicy': json.dumps({'kind': ['order', 'refund'], 'n': [{'numeric': ['>', 2]}]})}))['SubscriptionArn']
    s.aws('sub-fifo', 'sns', 'subscribe', '--topic-arn', fifo, '--protocol', 'sqs', '--notification-endpoint', ARN + 'cli-ordered.fifo',
          '--attributes', 'RawMessageDelivery=true')
    s.aws('sub-bad-filter', 'sns', 'subscribe', '--topic-arn', topic, '--protocol', 'sqs', '--notification-endpoint', ARN + 'cli-raw',
          '--attributes', json.dumps({'FilterPolicy': '{"kind": "not-a-list"}'}))
    s.aws('list-subs', 'sns', 'list-subscriptions')
    s.aws('topic-attrs-subscribed', 'sns', 'get-topic-attributes', '--topic-arn', topic)
    s.aws('list-subs-topic', 'sns', 'list-subscriptions-by-topic', '--topic-arn', topic)
    s.aws('sub-attrs', 'sns', 'get-subscription-attributes', '--subscription-arn', filt)
    s.aws('set-sub-attr', 'sns', 'set-subscription-attributes', '--subscription-arn', filt, '--attribute-name', 'FilterPolicy',
          '--attribute-value', json.dumps({'kind': ['order'], 'n': [{'numeric': ['>', 2]}]}))
    s.aws('sub-attrs-after', 'sns', 'get-subscription-attributes', '--subscription-arn', filt)

    s.aws('publish', 'sns', 'publish', '--topic-arn', topic, '--message', 'order placed', '--subject', 'New order', '--message-attributes',
          json.dumps({'kind': {'DataType': 'String', 'StringValue': 'order'}, 'n': {'DataType': 'Number', 'StringValue': '3'},
                      'bin': {'DataType': 'Binary', 'BinaryValue': 'AQID'}}))
    s.aws('publish-filtered-out', 'sns', 'publish', '--topic-arn', topic, '--message', 'refund made', '--message-attributes',
          json.dumps({'kind': {'DataType': 'String', 'StringValue': 'refund'}, 'n': {'DataType': 'Number', 'StringValue': '5'}}))
    s.aws('publish-structure', 'sns', 'publish', '--topic-arn', topic, '--message-structure', 'json', '--message',
          json.dumps({'default': 'for everyone', 'sqs': 'for queues'}))
    s.aws('publish-bad-structure', 'sns', 'publish', '--topic-arn', topic, '--message-structure', 'json', '--message', json.dumps({'sqs': 'no default'}))
    s.aws('publish-fifo-1', 'sns', 'publish', '--topic-arn', fifo, '--message', 'step 1', '--message-group-id', 'run-1')
    s.aws('publish-fifo-2', 'sns', 'publish', '--topic-arn', fifo, '--message', 'step 2', '--message-group-id', 'run-1')
    s.aws('publish-fifo-dup', 'sns', 'publish', '--topic-arn', fifo, '--message', 'step 1', '--message-group-id', 'run-1')
    s.aws('publish-fifo-no-group', 'sns', 'publish', '--topic-arn', fifo, '--message', 'x')

    raw_msgs = drain(s, 'raw-got', q['cli-raw'], 3)
    env_msgs = drain(s, 'env-got', q['cli-env'], 3)
    drain(s, 'filtered-got', q['cli-filtered'], 1, wait='1')
    fifo_msgs = drain(s, 'fifo-got', q['cli-ordered.fifo'], 2)
    s.note('md5', [check_message(m) for m in raw_msgs + env_msgs + fifo_msgs])

    s.aws('unsubscribe', 'sns', 'unsubscribe', '--subscription-arn', raw)
    s.aws('list-subs-after', 'sns', 'list-subscriptions-by-topic', '--topic-arn', topic)
    s.aws('publish-after-unsub', 'sns', 'publish', '--topic-arn', topic, '--message', 'late')
    drain(s, 'env-late', q['cli-env'], 1)
    s.aws('raw-late', 'sqs', 'receive-message', '--queue-url', q['cli-raw'], '--wait-time-seconds', '0')

    s.aws('tag', 'sns', 'tag-resource', '--resource-arn', topic, '--tags', 'Key=env,Value=test', 'Key=cost,Value=7')
    s.aws('tags', 'sns', 'list-tags-for-resource', '--resource-arn', topic)
    s.aws('untag', 'sns', 'untag-resource', '--resource-arn', topic, '--tag-keys', 'cost')
    s.aws('tags-after', 'sns', 'list-tags-for-resource', '--resource-arn', topic)

    s.aws('delete-topic', 'sns', 'delete-topic', '--topic-arn', topic)
    s.aws('list-topics-after', 'sns', 'list-topics')
    s.aws('err-topic-gone', 'sns', 'get-topic-attributes', '--topic-arn', topic)
    s.aws('err-publish-gone', 'sns', 'publish', '--topic-arn', topic, '--message', 'x')
    s.aws('err-sub-gone', 'sns', 'get-subscription-attributes', '--subscription-arn', env)
    s.aws('err-bad-protocol', 'sns', 'subscribe', '--topic-arn', fifo, '--protocol', 'carrier-pigeon', '--notification-endpoint', 'x')
    # AWS: a FIFO topic may deliver to a standard queue (since 2023-09); a standard topic never to a FIFO queue
    s.aws('fifo-to-standard', 'sns', 'subscribe', '--topic-arn', fifo, '--protocol', 'sqs', '--notification-endpoint', ARN + 'cli-env')
    s.aws('err-standard-to-fifo', 'sns', 'subscribe', '--topic-arn', 'arn:aws:sns:us-east-1:000000000000:cli-plain', '--protocol', 'sqs',
          '--notification-endpoint', ARN + 'cli-ordered.fifo')


main(scenario)
