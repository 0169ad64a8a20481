"""The MD5 digests SQS returns, computed here independently of Wharf (the algorithm of the AWS SQS developer
guide: attributes sorted by name; each name, data type and value as a 4-byte big-endian length and the bytes;
transport byte 1 for String/Number, 2 for Binary)."""
import base64
import hashlib
import struct


def md5_of_body(body):
    return hashlib.md5(body.encode('utf-8')).hexdigest()


def _chunk(b):
    return struct.pack('>I', len(b)) + b


def md5_of_attributes(attrs):
    """attrs: {name: {'DataType': ..., 'StringValue': str} or {'DataType': ..., 'BinaryValue': bytes or base64 str}}."""
    buf = b''
    for name in sorted(attrs):
        a = attrs[name]
        buf += _chunk(name.encode('utf-8')) + _chunk(a['DataType'].encode('utf-8'))
        if 'BinaryValue' in a and a['BinaryValue'] is not None:
            v = a['BinaryValue']
            if isinstance(v, str):
                v = base64.b64decode(v)
            buf += b'\x02' + _chunk(v)
        else:
            buf += b'\x01' + _chunk(a['StringValue'].encode('utf-8'))
    return hashlib.md5(buf).hexdigest()


def check_message(m):
    """True when a received message's MD5OfBody (and MD5OfMessageAttributes, if attributes came) match."""
    ok = m.get('MD5OfBody') == md5_of_body(m['Body'])
    if m.get('MessageAttributes'):
        ok = ok and m.get('MD5OfMessageAttributes') == md5_of_attributes(m['MessageAttributes'])
    return ok
