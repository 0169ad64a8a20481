"""aws sqs on FIFO queues (groups, order, dedup by id and by content) and redrive of a standard queue to its
dead-letter queue after maxReceiveCount receives."""
import json
import time

from awscli_steps import main
from sqs_md5 import check_message


def scenario(s):
    url = s.aws('create-fifo', 'sqs', 'create-queue', '--queue-name', 'cli-jobs.fifo', '--attributes', 'FifoQueue=true')['QueueUrl']
    s.aws('fifo-attrs', 'sqs', 'get-queue-attributes', '--queue-url', url, '--attribute-names', 'FifoQueue', 'ContentBasedDeduplication')
    s.aws('fifo-1', 'sqs', 'send-message', '--queue-url', url, '--message-body', 'g1-a', '--message-group-id', 'g1', '--message-deduplication-id', 'd1')
    s.aws('fifo-2', 'sqs', 'send-message', '--queue-url', url, '--message-body', 'g2-a', '--message-group-id', 'g2', '--message-deduplication-id', 'd2')
    s.aws('fifo-dup', 'sqs', 'send-message', '--queue-url', url, '--message-body', 'g1-a again', '--message-group-id', 'g1', '--message-deduplication-id', 'd1')
    s.aws('fifo-batch', 'sqs', 'send-message-batch', '--queue-url', url, '--entries', json.dumps([
        {'Id': 'a', 'MessageBody': 'g1-b', 'MessageGroupId': 'g1', 'MessageDeduplicationId': 'd3'},
        {'Id': 'b', 'MessageBody': 'g2-b', 'MessageGroupId': 'g2', 'MessageDeduplicationId': 'd4'},
        {'Id': 'c', 'MessageBody': 'g1-c', 'MessageGroupId': 'g1', 'MessageDeduplicationId': 'd5'},
        {'Id': 'dup', 'MessageBody': 'g2-a dup', 'MessageGroupId': 'g2', 'MessageDeduplicationId': 'd2'},
    ]))
    s.aws('fifo-no-group', 'sqs', 'send-message', '--queue-url', url, '--message-body', 'x', '--message-deduplication-id', 'd9')
    s.aws('fifo-no-dedup', 'sqs', 'send-message', '--queue-url', url, '--message-body', 'x', '--message-group-id', 'g1')
    r = s.aws('fifo-receive', 'sqs', 'receive-message', '--queue-url', url, '--max-number-of-messages', '10', '--attribute-names', 'All')
    msgs = r.get('Messages', [])
    s.note('fifo-md5', [check_message(m) for m in msgs])
    # while group g1's messages are in flight, nothing more of g1 comes; delete them all, then the queue is empty
    s.aws('fifo-receive-inflight', 'sqs', 'receive-message', '--queue-url', url, '--max-number-of-messages', '10')
    s.aws('fifo-delete', 'sqs', 'delete-message-batch', '--queue-url', url, '--entries',
          json.dumps([{'Id': str(i), 'ReceiptHandle': m['ReceiptHandle']} for i, m in enumerate(msgs)]))
    s.aws('fifo-attrs-after', 'sqs', 'get-queue-attributes', '--queue-url', url, '--attribute-names', 'ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible')
    # content-based deduplication switched on later: the same body twice is one message
    s.aws('fifo-cbd-on', 'sqs', 'set-queue-attributes', '--queue-url', url, '--attributes', 'ContentBasedDeduplication=true')
    s.aws('fifo-cbd-1', 'sqs', 'send-message', '--queue-url', url, '--message-body', 'same body', '--message-group-id', 'g3')
    s.aws('fifo-cbd-2', 'sqs', 'send-message', '--queue-url', url, '--message-body', 'same body', '--message-group-id', 'g3')
    s.aws('fifo-cbd-receive', 'sqs', 'receive-message', '--queue-url', url, '--max-number-of-messages', '10')
    s.aws('fifo-standard-attr', 'sqs', 'create-queue', '--queue-name', 'not-fifo', '--attributes', 'FifoQueue=true')

    # redrive: maxReceiveCount 2; the visibility timeout (1 s) expires twice, then the message is in the DLQ
    dlq = s.aws('create-dlq', 'sqs', 'create-queue', '--queue-name', 'cli-dead')['QueueUrl']
    policy = json.dumps({'deadLetterTargetArn': 'arn:aws:sqs:us-east-1:000000000000:cli-dead', 'maxReceiveCount': 2})
    src = s.aws('create-src', 'sqs', 'create-queue', '--queue-name', 'cli-work', '--attributes',
                json.dumps({'VisibilityTimeout': '1', 'RedrivePolicy': policy}))['QueueUrl']
    s.aws('src-send', 'sqs', 'send-message', '--queue-url', src, '--message-body', 'poison')
    counts = []
    started = time.time()
    for i in range(2):
        r = s.aws('src-receive-%d' % (i + 1), 'sqs', 'receive-message', '--queue-url', src, '--attribute-names', 'ApproximateReceiveCount',
                  '--wait-time-seconds', '3')
        counts += [m['Attributes']['ApproximateReceiveCount'] for m in r.get('Messages', [])]
    s.note('src-receive-counts', counts)
    d = s.aws('dlq-receive', 'sqs', 'receive-message', '--queue-url', dlq, '--attribute-names', 'All', '--wait-time-seconds', '4')
    s.note('redrive-seconds', round(time.time() - started, 2))
    s.aws('src-receive-after', 'sqs', 'receive-message', '--queue-url', src, '--wait-time-seconds', '0')
    s.aws('src-attrs-after', 'sqs', 'get-queue-attributes', '--queue-url', src, '--attribute-names', 'All')
    s.aws('dl-sources', 'sqs', 'list-dead-letter-source-queues', '--queue-url', dlq)
    s.aws('dl-sources-none', 'sqs', 'list-dead-letter-source-queues', '--queue-url', src)
    # a redrive policy naming a queue that does not exist is refused
    s.aws('bad-redrive', 'sqs', 'set-queue-attributes', '--queue-url', src, '--attributes',
          json.dumps({'RedrivePolicy': json.dumps({'deadLetterTargetArn': 'arn:aws:sqs:us-east-1:000000000000:nowhere', 'maxReceiveCount': 2})}))
    # removing the policy
    s.aws('remove-redrive', 'sqs', 'set-queue-attributes', '--queue-url', src, '--attributes', json.dumps({'RedrivePolicy': ''}))
    s.aws('dl-sources-removed', 'sqs', 'list-dead-letter-source-queues', '--queue-url', dlq)
    if d and d.get('Messages'):
        s.aws('dlq-delete', 'sqs', 'delete-message', '--queue-url', dlq, '--receipt-handle', d['Messages'][0]['ReceiptHandle'])


main(scenario)
