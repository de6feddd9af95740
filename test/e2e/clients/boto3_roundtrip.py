"""boto3 against Strata: the calls a Python application makes most. Prints OK or raises."""
import hashlib
import io
import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, access_key, secret_key = sys.argv[1:4]
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    aws_access_key_id=access_key,
    aws_secret_access_key=secret_key,
    region_name="us-east-1",
    config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
)
s3.create_bucket(Bucket="boto")
body = os.urandom(9 * 1024 * 1024 + 7)
s3.put_object(Bucket="boto", Key="a/b.bin", Body=body, Metadata={"k": "v"})
got = s3.get_object(Bucket="boto", Key="a/b.bin")
assert got["Body"].read() == body, "get_object returns the bytes"
assert got["Metadata"] == {"k": "v"}, got["Metadata"]
ranged = s3.get_object(Bucket="boto", Key="a/b.bin", Range="bytes=10-19")["Body"].read()
assert ranged == body[10:20], "ranged get"
# upload_fileobj switches to multipart above its 8 MiB threshold
s3.upload_fileobj(io.BytesIO(body), "boto", "multi.bin")
assert s3.get_object(Bucket="boto", Key="multi.bin")["Body"].read() == body
listed = s3.list_objects_v2(Bucket="boto", Delimiter="/")
assert [c["Prefix"] for c in listed.get("CommonPrefixes", [])] == ["a/"], listed
assert [o["Key"] for o in listed["Contents"]] == ["multi.bin"], listed
s3.copy_object(Bucket="boto", Key="copy.bin", CopySource={"Bucket": "boto", "Key": "a/b.bin"})
digest = hashlib.md5(body).hexdigest()
assert s3.head_object(Bucket="boto", Key="copy.bin")["ETag"] == f'"{digest}"'
s3.delete_objects(Bucket="boto", Delete={"Objects": [{"Key": "a/b.bin"}, {"Key": "copy.bin"}, {"Key": "multi.bin"}]})
try:
    s3.head_object(Bucket="boto", Key="a/b.bin")
    raise AssertionError("deleted object still there")
except ClientError as error:
    assert error.response["Error"]["Code"] == "404", error.response
s3.delete_bucket(Bucket="boto")
print("OK")
