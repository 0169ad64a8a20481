"""aws sqs on a standard queue: create with attributes, URL and listing, attributes, send (attributes, delay,
batch), receive with everything, visibility changes, batch delete, purge, tags, delete, and error cases."""
import json
import time

from awscli_steps import main
from sqs_md5 import check_message, md5_of_attributes, md5_of_body


def scenario(s):
    dlq = s.aws('create-dlq', 'sqs', 'create-queue', '--queue-name', 'cli-std-dlq')['QueueUrl']
    dlq_arn = s.aws('dlq-arn', 'sqs', 'get-queue-attributes', '--queue-url', dlq, '--attribute-names', 'QueueArn')['Attributes']['QueueArn']
    redrive = json.dumps({'deadLetterTargetArn': dlq_arn, 'maxReceiveCount': '5'})
    attrs = json.dumps({'VisibilityTimeout': '30', 'DelaySeconds': '0', 'ReceiveMessageWaitTimeSeconds': '1', 'RedrivePolicy': redrive})
    url = s.aws('create', 'sqs', 'create-queue', '--queue-name', 'cli-std', '--attributes', attrs)['QueueUrl']
    # creating it again with the same attributes is fine; with different ones it is not
    s.aws('create-again', 'sqs', 'create-queue', '--queue-name', 'cli-std', '--attributes', attrs)
    s.aws('create-conflict', 'sqs', 'create-queue', '--queue-name', 'cli-std', '--attributes', 'VisibilityTimeout=31')
    s.aws('create-other', 'sqs', 'create-queue', '--queue-name', 'other-q')
    s.aws('get-url', 'sqs', 'get-queue-url', '--queue-name', 'cli-std')
    s.aws('list-prefix', 'sqs', 'list-queues', '--queue-name-prefix', 'cli-std')
    s.aws('list-all', 'sqs', 'list-queues')
    # the CLI follows NextToken itself: pages of 2 still list all three queues; --max-items stops early with a token
    s.aws('list-paged', 'sqs', 'list-queues', '--page-size', '2')
    s.aws('list-max-items', 'sqs', 'list-queues', '--page-size', '2', '--max-items', '2')
    s.aws('attrs-created', 'sqs', 'get-queue-attributes', '--queue-url', url, '--attribute-names', 'All')

    mattrs = json.dumps({
        'color': {'DataType': 'String', 'StringValue': 'blue'},
        'count': {'DataType': 'Number', 'StringValue': '42'},
        'blob': {'DataType': 'Binary', 'BinaryValue': 'AAEC/w=='},
        'custom': {'DataType': 'String.utf8', 'StringValue': 'grüße'},
    })
    sent = s.aws('send', 'sqs', 'send-message', '--queue-url', url, '--message-body', 'first ☃', '--message-attributes', mattrs)
    s.note('md5-send', [sent['MD5OfMessageBody'] == md5_of_body('first ☃'), sent['MD5OfMessageAttributes'] == md5_of_attributes(json.loads(mattrs))])
    # a per-message delay, on a queue of its own so that the timing of the rest does not matter
    delay_q = s.aws('create-delay-q', 'sqs', 'create-queue', '--queue-name', 'cli-std-delay')['QueueUrl']
    # 15 s: each aws CLI call takes one to several seconds on a busy machine, and two come before the early receive
    s.aws('send-delayed', 'sqs', 'send-message', '--queue-url', delay_q, '--message-body', 'delayed', '--delay-seconds', '15')
    sent_delayed_at = time.time()
    s.aws('attrs-delayed', 'sqs', 'get-queue-attributes', '--queue-url', delay_q, '--attribute-names', 'All')
    s.aws('receive-too-early', 'sqs', 'receive-message', '--queue-url', delay_q, '--wait-time-seconds', '0')
    s.note('too-early-after', round(time.time() - sent_delayed_at, 2))
    entries = json.dumps([
        {'Id': 'b1', 'MessageBody': 'batch one'},
        {'Id': 'b2', 'MessageBody': 'batch two', 'MessageAttributes': {'n': {'DataType': 'Number', 'StringValue': '-1.5'}}},
        {'Id': 'b3', 'MessageBody': 'batch three'},
    ])
    s.aws('send-batch', 'sqs', 'send-message-batch', '--queue-url', url, '--entries', entries)
    s.aws('attrs-sent', 'sqs', 'get-queue-attributes', '--queue-url', url, '--attribute-names',
          'ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed')
    r = s.aws('receive', 'sqs', 'receive-message', '--queue-url', url, '--attribute-names', 'All', '--message-attribute-names', 'All',
              '--max-number-of-messages', '10', '--wait-time-seconds', '1')
    msgs = r.get('Messages', [])
    # the long poll returns as soon as messages are there: receive until the four visible ones are in
    for _ in range(5):
        if len(msgs) >= 4:
            break
        more = s.aws('receive-more', 'sqs', 'receive-message', '--queue-url', url, '--attribute-names', 'All', '--message-attribute-names', 'All',
                     '--max-number-of-messages', '10', '--wait-time-seconds', '1')
        msgs += more.get('Messages', [])
    s.note('received', msgs)
    s.note('md5-received', [check_message(m) for m in msgs])
    s.aws('attrs-received', 'sqs', 'get-queue-attributes', '--queue-url', url, '--attribute-names', 'All')
    by_body = {m['Body']: m for m in msgs}

    # visibility: one back to 0 (visible again), a batch with one valid entry and one bad handle
    s.aws('change-vis', 'sqs', 'change-message-visibility', '--queue-url', url, '--receipt-handle', by_body['batch one']['ReceiptHandle'],
          '--visibility-timeout', '0')
    s.aws('change-vis-batch', 'sqs', 'change-message-visibility-batch', '--queue-url', url, '--entries', json.dumps([
        {'Id': 'ok', 'ReceiptHandle': by_body['batch two']['ReceiptHandle'], 'VisibilityTimeout': 0},
        {'Id': 'keep', 'ReceiptHandle': by_body['batch three']['ReceiptHandle'], 'VisibilityTimeout': 120},
        {'Id': 'bad', 'ReceiptHandle': 'not-a-handle', 'VisibilityTimeout': 10},
    ]))
    again = s.aws('receive-again', 'sqs', 'receive-message', '--queue-url', url, '--attribute-names', 'ApproximateReceiveCount',
                  '--max-number-of-messages', '10', '--wait-time-seconds', '1')
    again_msgs = again.get('Messages', [])
    handles = [m['ReceiptHandle'] for m in again_msgs] + [by_body['first ☃']['ReceiptHandle']]
    entries = [{'Id': 'd%d' % i, 'ReceiptHandle': h} for i, h in enumerate(handles)]
    entries.append({'Id': 'bad', 'ReceiptHandle': 'AAAA'})
    s.aws('delete-batch', 'sqs', 'delete-message-batch', '--queue-url', url, '--entries', json.dumps(entries))
    s.aws('attrs-deleted', 'sqs', 'get-queue-attributes', '--queue-url', url, '--attribute-names', 'All')

    # a handle deleted twice: the second delete succeeds too (as in AWS)
    s.aws('delete-again', 'sqs', 'delete-message', '--queue-url', url, '--receipt-handle', by_body['first ☃']['ReceiptHandle'])

    s.aws('set-attrs', 'sqs', 'set-queue-attributes', '--queue-url', url, '--attributes', 'VisibilityTimeout=45,DelaySeconds=1,MaximumMessageSize=2048')
    s.aws('attrs-set', 'sqs', 'get-queue-attributes', '--queue-url', url, '--attribute-names', 'VisibilityTimeout', 'DelaySeconds', 'MaximumMessageSize', 'RedrivePolicy')
    s.aws('set-attrs-back', 'sqs', 'set-queue-attributes', '--queue-url', url, '--attributes', 'DelaySeconds=0')
    s.aws('too-big', 'sqs', 'send-message', '--queue-url', url, '--message-body', 'x' * 3000)

    s.aws('send-purge', 'sqs', 'send-message-batch', '--queue-url', url, '--entries',
          json.dumps([{'Id': str(i), 'MessageBody': 'purge me %d' % i} for i in range(5)]))
    s.aws('attrs-before-purge', 'sqs', 'get-queue-attributes', '--queue-url', url, '--attribute-names', 'ApproximateNumberOfMessages')
    s.aws('purge', 'sqs', 'purge-queue', '--queue-url', url)
    s.aws('attrs-purged', 'sqs', 'get-queue-attributes', '--queue-url', url, '--attribute-names', 'ApproximateNumberOfMessages')
    s.aws('receive-purged', 'sqs', 'receive-message', '--queue-url', url, '--wait-time-seconds', '0')

    s.aws('tag', 'sqs', 'tag-queue', '--queue-url', url, '--tags', 'team=core,env=test,cost=7')
    s.aws('tags', 'sqs', 'list-queue-tags', '--queue-url', url)
    s.aws('untag', 'sqs', 'untag-queue', '--queue-url', url, '--tag-keys', 'env', 'cost')
    s.aws('tags-after', 'sqs', 'list-queue-tags', '--queue-url', url)

    s.aws('dl-sources', 'sqs', 'list-dead-letter-source-queues', '--queue-url', dlq)

    # error cases
    missing = url.rsplit('/', 1)[0] + '/no-such-queue'
    s.aws('err-get-url', 'sqs', 'get-queue-url', '--queue-name', 'no-such-queue')
    s.aws('err-send-missing', 'sqs', 'send-message', '--queue-url', missing, '--message-body', 'x')
    s.aws('err-bad-handle', 'sqs', 'delete-message', '--queue-url', url, '--receipt-handle', 'garbage')
    s.aws('err-bad-vis-handle', 'sqs', 'change-message-visibility', '--queue-url', url, '--receipt-handle', 'garbage', '--visibility-timeout', '5')
    s.aws('err-max-messages', 'sqs', 'receive-message', '--queue-url', url, '--max-number-of-messages', '11')
    s.aws('err-delay', 'sqs', 'send-message', '--queue-url', url, '--message-body', 'x', '--delay-seconds', '901')
    s.aws('err-attr-value', 'sqs', 'create-queue', '--queue-name', 'bad-attrs', '--attributes', 'VisibilityTimeout=99999')
    s.aws('err-queue-name', 'sqs', 'create-queue', '--queue-name', 'bad name!')
    # an empty list goes out as `Entries=` / `AttributeNames=` (botocore's query serializer)
    s.aws('err-empty-batch', 'sqs', 'send-message-batch', '--queue-url', url, '--entries', '[]')
    s.aws('err-empty-delete-batch', 'sqs', 'delete-message-batch', '--queue-url', url, '--entries', '[]')
    s.aws('attrs-none', 'sqs', 'get-queue-attributes', '--queue-url', url, '--attribute-names', '[]')
    s.aws('err-batch-ids', 'sqs', 'send-message-batch', '--queue-url', url, '--entries',
          json.dumps([{'Id': 'same', 'MessageBody': 'a'}, {'Id': 'same', 'MessageBody': 'b'}]))

    # the delayed message is there once its 15 s are over (a long poll waits for it)
    for _ in range(3):
        delayed = s.aws('receive-delayed', 'sqs', 'receive-message', '--queue-url', delay_q, '--wait-time-seconds', '20')
        if delayed and delayed.get('Messages'):
            break
    s.note('delayed-after', round(time.time() - sent_delayed_at, 2))
    s.aws('delete-delayed', 'sqs', 'delete-message', '--queue-url', delay_q, '--receipt-handle', delayed['Messages'][0]['ReceiptHandle'])

    s.aws('delete', 'sqs', 'delete-queue', '--queue-url', url)
    s.aws('err-after-delete', 'sqs', 'get-queue-attributes', '--queue-url', url, '--attribute-names', 'All')
    s.aws('list-after-delete', 'sqs', 'list-queues', '--queue-name-prefix', 'cli-std')


main(scenario)
