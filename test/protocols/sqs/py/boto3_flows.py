"""boto3 against Wharf, the way applications use it: the SQS and SNS resource APIs (sqs.Queue, send_messages,
receive_messages, message.delete(), topic.subscribe/publish), the client API for the rest, paginators, and
modeled exceptions. Every received message's MD5OfBody / MD5OfMessageAttributes is checked here (botocore 1.29
does not check them itself). Prints one JSON object."""
import json
import sys
import time
import traceback

import boto3
import botocore
from botocore.exceptions import ClientError

from sqs_md5 import md5_of_attributes, md5_of_body

ep = sys.argv[1]
out = {'versions': [boto3.__version__, botocore.__version__]}
md5_checks = []


def md5_ok(body, md5_body, attrs=None, md5_attrs=None):
    ok = md5_body == md5_of_body(body)
    if attrs:
        ok = ok and md5_attrs == md5_of_attributes(attrs)
    md5_checks.append(ok)


def error_code(fn):
    try:
        fn()
    except ClientError as e:
        return [e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode'], type(e).__name__]
    return None


def run():
    sqs = boto3.resource('sqs', endpoint_url=ep, region_name='us-east-1')
    sns = boto3.resource('sns', endpoint_url=ep, region_name='us-east-1')
    client = sqs.meta.client
    sns_client = sns.meta.client

    # ------------------------------------------------------------------ SQS resource API
    dlq = sqs.create_queue(QueueName='py-res-dlq')
    queue = sqs.create_queue(QueueName='py-res', Attributes={
        'VisibilityTimeout': '20', 'RedrivePolicy': json.dumps({'deadLetterTargetArn': dlq.attributes['QueueArn'], 'maxReceiveCount': 3})})
    out['url'] = queue.url
    out['by_name'] = sqs.get_queue_by_name(QueueName='py-res').url
    out['filtered'] = sorted(q.url for q in sqs.queues.filter(QueueNamePrefix='py-res'))
    attrs = {'s': {'DataType': 'String', 'StringValue': 'ß and ☃'},
             'n': {'DataType': 'Number', 'StringValue': '12.50'},
             'b': {'DataType': 'Binary', 'BinaryValue': b'\x00\xff\x10'}}
    r = queue.send_message(MessageBody='resource hello', MessageAttributes=attrs)
    md5_ok('resource hello', r['MD5OfMessageBody'], attrs, r['MD5OfMessageAttributes'])
    r = queue.send_messages(Entries=[{'Id': 'e%d' % i, 'MessageBody': 'entry %d' % i,
                                      'MessageAttributes': {'i': {'DataType': 'Number', 'StringValue': str(i)}}} for i in range(9)])
    out['send_messages'] = [len(r.get('Successful', [])), len(r.get('Failed', []))]
    for e in r['Successful']:
        i = int(e['Id'][1:])
        md5_ok('entry %d' % i, e['MD5OfMessageBody'], {'i': {'DataType': 'Number', 'StringValue': str(i)}}, e['MD5OfMessageAttributes'])
    queue.reload()
    out['visible'] = queue.attributes['ApproximateNumberOfMessages']
    got = []
    for _ in range(5):
        batch = queue.receive_messages(MessageAttributeNames=['All'], AttributeNames=['All'], MaxNumberOfMessages=10, WaitTimeSeconds=1)
        got += batch
        if len(got) >= 10 or not batch:
            break
    out['received'] = len(got)
    for m in got:
        md5_ok(m.body, m.md5_of_body, m.message_attributes, m.md5_of_message_attributes)
    hello = next(m for m in got if m.body == 'resource hello')
    out['hello_attrs'] = {k: (v.get('StringValue') if 'StringValue' in v else list(v['BinaryValue'])) for k, v in hello.message_attributes.items()}
    out['hello_types'] = {k: v['DataType'] for k, v in hello.message_attributes.items()}
    out['hello_system'] = sorted(hello.attributes)
    queue.reload()
    out['in_flight'] = queue.attributes['ApproximateNumberOfMessagesNotVisible']
    # one message made visible again through the resource, re-received with a count of 2
    first = next(m for m in got if m.body == 'entry 0')
    first.change_visibility(VisibilityTimeout=0)
    again = queue.receive_messages(AttributeNames=['ApproximateReceiveCount'], WaitTimeSeconds=2)
    out['again'] = [(m.body, m.attributes['ApproximateReceiveCount']) for m in again]
    hello.delete()
    for m in again:
        m.delete()
    rest = [m for m in got if m.body not in ('resource hello', 'entry 0')]
    d = queue.delete_messages(Entries=[{'Id': str(i), 'ReceiptHandle': m.receipt_handle} for i, m in enumerate(rest)])
    out['delete_messages'] = [len(d.get('Successful', [])), len(d.get('Failed', []))]
    queue.reload()
    out['after_delete'] = [queue.attributes['ApproximateNumberOfMessages'], queue.attributes['ApproximateNumberOfMessagesNotVisible']]
    out['dlq_sources'] = [q.url for q in dlq.dead_letter_source_queues.all()]
    queue.set_attributes(Attributes={'VisibilityTimeout': '25', 'MessageRetentionPeriod': '3600'})
    queue.reload()
    out['set_attributes'] = [queue.attributes['VisibilityTimeout'], queue.attributes['MessageRetentionPeriod']]
    queue.send_message(MessageBody='to purge')
    queue.purge()
    queue.reload()
    out['purged'] = queue.attributes['ApproximateNumberOfMessages']
    client.tag_queue(QueueUrl=queue.url, Tags={'a': '1', 'b': '2'})
    client.untag_queue(QueueUrl=queue.url, TagKeys=['a'])
    out['tags'] = client.list_queue_tags(QueueUrl=queue.url).get('Tags')

    # client API: paginated listing, long-poll on an empty queue, a visibility batch
    for i in range(5):
        client.create_queue(QueueName='py-page-%d' % i)
    pages = list(client.get_paginator('list_queues').paginate(QueueNamePrefix='py-page', PaginationConfig={'PageSize': 2}))
    out['pages'] = [len(p.get('QueueUrls', [])) for p in pages]
    t0 = time.time()
    empty = client.receive_message(QueueUrl=client.get_queue_url(QueueName='py-page-0')['QueueUrl'], WaitTimeSeconds=1)
    out['empty_poll'] = ['Messages' in empty, round(time.time() - t0, 2)]

    # FIFO through the client
    f = client.create_queue(QueueName='py-order.fifo', Attributes={'FifoQueue': 'true', 'ContentBasedDeduplication': 'true'})['QueueUrl']
    r = client.send_message_batch(QueueUrl=f, Entries=[{'Id': str(i), 'MessageBody': 'f%d' % i, 'MessageGroupId': 'g%d' % (i % 2)} for i in range(6)])
    out['fifo_seq'] = all('SequenceNumber' in e for e in r['Successful'])
    client.send_message(QueueUrl=f, MessageBody='f0', MessageGroupId='g0')  # duplicate by content
    msgs = client.receive_message(QueueUrl=f, MaxNumberOfMessages=10, AttributeNames=['All']).get('Messages', [])
    out['fifo'] = {g: [m['Body'] for m in msgs if m['Attributes']['MessageGroupId'] == g] for g in ('g0', 'g1')}
    for m in msgs:
        md5_ok(m['Body'], m['MD5OfBody'])

    # bodies and attribute values that need XML escaping (and a \r, which XML parsers would normalise away)
    esc = client.create_queue(QueueName='py-escape', tags={'made-by': 'boto3'})['QueueUrl']
    out['create_tags'] = client.list_queue_tags(QueueUrl=esc).get('Tags')
    tricky = ['<a href="x">&amp; \'q\'</a>', 'line1\r\nline2\rline3\n', 'tab\there ]]> end', 'emoji \U0001F600 \ue000']
    for b in tricky:
        r = client.send_message(QueueUrl=esc, MessageBody=b, MessageAttributes={'v': {'DataType': 'String', 'StringValue': b}})
        md5_ok(b, r['MD5OfMessageBody'], {'v': {'DataType': 'String', 'StringValue': b}}, r['MD5OfMessageAttributes'])
    back = []
    for _ in range(5):
        ms = client.receive_message(QueueUrl=esc, MaxNumberOfMessages=10, MessageAttributeNames=['All']).get('Messages', [])
        if not ms:
            break
        back += ms
    for m in back:
        md5_ok(m['Body'], m['MD5OfBody'], m['MessageAttributes'], m['MD5OfMessageAttributes'])
    out['escaped'] = sorted(m['Body'] for m in back) == sorted(tricky) and all(m['MessageAttributes']['v']['StringValue'] == m['Body'] for m in back)
    client.add_permission(QueueUrl=esc, Label='p1', AWSAccountIds=['111122223333'], Actions=['SendMessage'])
    out['permission'] = json.loads(client.get_queue_attributes(QueueUrl=esc, AttributeNames=['Policy'])['Attributes']['Policy'])['Statement'][0]['Sid']
    client.remove_permission(QueueUrl=esc, Label='p1')

    # errors: modeled exceptions and codes
    out['errors'] = {
        'get_queue_url': error_code(lambda: client.get_queue_url(QueueName='py-nope')),
        'bad_handle': error_code(lambda: client.delete_message(QueueUrl=queue.url, ReceiptHandle='bogus')),
        'bad_attr': error_code(lambda: client.set_queue_attributes(QueueUrl=queue.url, Attributes={'VisibilityTimeout': '-1'})),
        'unknown_attr': error_code(lambda: client.get_queue_attributes(QueueUrl=queue.url, AttributeNames=['NoSuchAttribute'])),
        'empty_batch': error_code(lambda: client.send_message_batch(QueueUrl=queue.url, Entries=[])),
        'bad_chars': error_code(lambda: client.send_message(QueueUrl=esc, MessageBody='nul \x00 char')),
        'too_many': error_code(lambda: client.send_message_batch(QueueUrl=queue.url, Entries=[{'Id': str(i), 'MessageBody': 'x'} for i in range(11)])),
    }
    try:
        client.get_queue_url(QueueName='py-nope')
    except client.exceptions.QueueDoesNotExist:
        out['modeled_exception'] = 'QueueDoesNotExist'

    # ------------------------------------------------------------------ SNS resource API → SQS
    topic = sns.create_topic(Name='py-news', Attributes={'DisplayName': 'News'})
    inbox = sqs.create_queue(QueueName='py-inbox')
    raw_inbox = sqs.create_queue(QueueName='py-raw-inbox')
    sub = topic.subscribe(Protocol='sqs', Endpoint=inbox.attributes['QueueArn'], ReturnSubscriptionArn=True)
    raw_sub = topic.subscribe(Protocol='sqs', Endpoint=raw_inbox.attributes['QueueArn'],
                              Attributes={'RawMessageDelivery': 'true', 'FilterPolicy': json.dumps({'lang': [{'prefix': 'en'}]})})
    out['sub_attrs'] = {k: sub.attributes[k] for k in ('Protocol', 'Endpoint', 'RawMessageDelivery', 'PendingConfirmation')}
    raw_sub.set_attributes(AttributeName='FilterPolicy', AttributeValue=json.dumps({'lang': [{'prefix': 'en'}], 'n': [{'numeric': ['>=', 1]}]}))
    raw_sub.reload()
    out['raw_filter'] = json.loads(raw_sub.attributes['FilterPolicy'])
    out['topic_subs'] = sorted(s.arn for s in topic.subscriptions.all()) == sorted([sub.arn, raw_sub.arn])
    topic.reload()
    out['topic_attrs'] = {k: topic.attributes.get(k) for k in ('DisplayName', 'SubscriptionsConfirmed')}
    pub_attrs = {'lang': {'DataType': 'String', 'StringValue': 'en-GB'}, 'n': {'DataType': 'Number', 'StringValue': '2'},
                 'raw': {'DataType': 'Binary', 'BinaryValue': b'\x01\x02'}}
    p1 = topic.publish(Message='hello subscribers', Subject='Hi', MessageAttributes=pub_attrs)
    topic.publish(Message='bonjour', MessageAttributes={'lang': {'DataType': 'String', 'StringValue': 'fr'}, 'n': {'DataType': 'Number', 'StringValue': '2'}})
    out['publish_id'] = p1['MessageId']

    def drain(q, n):
        res = []
        for _ in range(5):
            res += q.receive_messages(MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=['All'])
            if len(res) >= n:
                break
        return res
    env = drain(inbox, 2)
    for m in env:
        md5_ok(m.body, m.md5_of_body, m.message_attributes, m.md5_of_message_attributes)
    notes = [json.loads(m.body) for m in env]
    out['envelopes'] = sorted([[n['Type'], n['Message'], n.get('Subject'), n['TopicArn'] == topic.arn, sorted(n.get('MessageAttributes', {}))] for n in notes])
    out['envelope_id'] = [n['MessageId'] for n in notes if n['Message'] == 'hello subscribers']
    raw = drain(raw_inbox, 1)
    for m in raw:
        md5_ok(m.body, m.md5_of_body, m.message_attributes, m.md5_of_message_attributes)
    out['raw'] = [[m.body, {k: v.get('StringValue', list(v.get('BinaryValue', b''))) for k, v in (m.message_attributes or {}).items()}] for m in raw]
    for m in env + raw:
        m.delete()
    sub.delete()
    out['subs_after_unsubscribe'] = len(list(topic.subscriptions.all()))
    sns_client.tag_resource(ResourceArn=topic.arn, Tags=[{'Key': 'k', 'Value': 'v'}])
    out['topic_tags'] = sns_client.list_tags_for_resource(ResourceArn=topic.arn)['Tags']
    out['topics'] = [t.arn for t in sns.topics.all()]
    topic.delete()
    out['topics_after_delete'] = [t.arn for t in sns.topics.all()]
    out['sns_errors'] = {
        'publish_gone': error_code(lambda: sns_client.publish(TopicArn=topic.arn, Message='x')),
        'bad_filter': error_code(lambda: sns_client.subscribe(TopicArn=sns.create_topic(Name='py-other').arn, Protocol='sqs',
                                                               Endpoint=inbox.attributes['QueueArn'], Attributes={'FilterPolicy': '{"a": [{"numeric": [">", "x"]}]}'})),
    }
    try:
        sns_client.get_topic_attributes(TopicArn=topic.arn)
    except sns_client.exceptions.NotFoundException:
        out['sns_modeled_exception'] = 'NotFoundException'

    queue.delete()
    out['queue_deleted'] = error_code(lambda: client.get_queue_attributes(QueueUrl=queue.url, AttributeNames=['All']))


try:
    run()
except Exception:  # noqa: BLE001 - reported to the test, which fails on it
    out['exception'] = traceback.format_exc()
out['md5'] = md5_checks
print(json.dumps(out))
