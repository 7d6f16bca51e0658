"""A real S3 server for the tests: moto's server mode as a subprocess on 127.0.0.1.

`S3Server.start()` starts it with credential checks on (IAM access control, as on AWS): one
IAM user with every permission is made while checks are still off, then checks go on, so a
wrong key is refused like on a real endpoint. `server.env` holds the AWS variables of that
user (endpoint included: AWS_ENDPOINT_URL, which botocore and s3fs read); `server.bucket()`
makes a fresh bucket. tests/conftest.py's `s3_server` fixture is one per test session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

from support import free_port

REGION = "us-east-1"
ADMIN_POLICY = {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@dataclass
class S3Server:
    """A running moto server: its endpoint, and the environment of a user allowed all."""

    endpoint: str
    process: subprocess.Popen
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, timeout: float = 60.0) -> S3Server:
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                 "-p", str(port)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        server = cls(f"http://127.0.0.1:{port}", proc)
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(server.endpoint + "/moto-api/", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.2)
        server.env = server._user_env()
        return server

    def _client(self, service: str, env: dict[str, str]) -> Any:
        import boto3

        return boto3.session.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=REGION,
        ).client(service, endpoint_url=self.endpoint)

    def _user_env(self) -> dict[str, str]:
        """An IAM user allowed everything, then credential checks on."""
        anyone = {"AWS_ACCESS_KEY_ID": "setup", "AWS_SECRET_ACCESS_KEY": "setup"}
        iam = self._client("iam", anyone)
        iam.create_user(UserName="zspace")
        iam.put_user_policy(UserName="zspace", PolicyName="all",
                            PolicyDocument=json.dumps(ADMIN_POLICY))
        key = iam.create_access_key(UserName="zspace")["AccessKey"]
        request = urllib.request.Request(self.endpoint + "/moto-api/reset-auth", data=b"0",
                                         method="POST", headers={"Content-Type": "text/plain"})
        urllib.request.urlopen(request, timeout=10).read()
        return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
                "AWS_ENDPOINT_URL": self.endpoint, "AWS_DEFAULT_REGION": REGION}

    def user(self, name: str, statements: list[tuple[list[str], str]]) -> dict[str, str]:
        """Another IAM user allowed only (actions, resource) pairs, e.g.
        ([s3:Get*, s3:List*], "*"); the env of its key."""
        iam = self._client("iam", self.env)
        iam.create_user(UserName=name)
        policy = {"Version": "2012-10-17",
                  "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}
                                for actions, resource in statements]}
        iam.put_user_policy(UserName=name, PolicyName="only", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return {**self.env, "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}

    def bucket(self, prefix: str = "zspace") -> str:
        """A new, empty bucket; its name."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self._client("s3", self.env).create_bucket(Bucket=name)
        return name

    def environ(self, **extra: str) -> dict[str, str]:
        """os.environ with this server's user, for a subprocess."""
        return {**os.environ, **self.env, **extra}

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
