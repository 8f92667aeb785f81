"""The AWS calls, each through `Aws.call`: boto3 clients from the standard credential chain
(honouring AWS_ENDPOINT_URL and AWS_REGION as boto3 does), our own retry of throttled calls, and
every failure turned into an `AwsError` that names the IAM action (logs:FilterLogEvents, …).

Why our own retry and not botocore's: its standard mode backs off up to 20 s with a retry quota
shared by the client, and neither its attempts nor its delays are visible; here each throttled
call is retried up to `retries` times with exponential backoff and equal jitter, each wait
printed, and a test drives it through a proxy that throttles. botocore's own retries are off
(total_max_attempts 1) so the two do not multiply.
"""

from __future__ import annotations

import random
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

# The error codes botocore's standard retry mode takes for throttling (the logs and CloudWatch APIs
# answer the first).
THROTTLING = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "LimitExceededException",
    }
)
DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
BAD_CREDENTIALS = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
    }
)
PAGES_MAX = 10_000  # a guard against a token that never ends
# boto3's client names against the IAM service prefixes.
IAM_PREFIX = {"logs": "logs", "cloudwatch": "cloudwatch"}


class AwsError(RuntimeError):
    """A call that failed for good; `action` is the IAM action (e.g. logs:FilterLogEvents)."""

    def __init__(self, action: str, message: str):
        super().__init__(message)
        self.action = action


class MissingLogGroup(AwsError):
    """The log group does not exist (in that account and region)."""


@dataclass(frozen=True)
class Retry:
    """How throttled calls are retried: up to `retries` more attempts, waiting
    base_s × 2^k × (0.5 + U/2) before retry k+1 (equal jitter), never more than cap_s."""

    retries: int = 8
    base_s: float = 0.5
    cap_s: float = 20.0

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"--retries must be 0 or more, got {self.retries}")
        if not 0 < self.base_s <= self.cap_s:
            raise ValueError(
                f"--retry-base must be above 0 and at most the cap ({self.cap_s} s), got {self.base_s}"
            )

    def delay(self, k: int, draw: float) -> float:
        """The wait before retry k+1 (k from 0), `draw` in [0, 1)."""
        return min(self.cap_s, self.base_s * 2**k) * (0.5 + draw / 2)


class Aws:
    def __init__(
        self,
        region: str | None,
        retry: Retry,
        sleep: Callable[[float], None] = time.sleep,
        say: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
    ):
        self.retry = retry
        self._sleep = sleep
        self._say = say
        self._session = boto3.session.Session(region_name=region)
        self._config = botocore.config.Config(
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=10,
            read_timeout=60,
            user_agent_extra="delay-echo-cloudview",
        )
        self._clients: dict[str, Any] = {}

    @property
    def region(self) -> str | None:
        return self._session.region_name

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._session.client(service, config=self._config)
        return self._clients[service]

    def call(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        """One API call (`operation` as boto3 names it, e.g. filter_log_events), retried while
        throttled; AwsError when it fails for good."""
        client = self.client(service)
        action = f"{IAM_PREFIX[service]}:{client.meta.method_to_api_mapping[operation]}"
        for k in range(self.retry.retries + 1):
            try:
                result: dict[str, Any] = getattr(client, operation)(**params)
                return result
            except botocore.exceptions.ClientError as e:
                code = str(e.response.get("Error", {}).get("Code", ""))
                if code in THROTTLING and k < self.retry.retries:
                    wait = self.retry.delay(k, random.random())
                    self._say(
                        f"platform-view: {action} throttled ({code}); retry {k + 1} of "
                        f"{self.retry.retries} in {wait:.2f} s"
                    )
                    self._sleep(wait)
                    continue
                raise _explain(action, code, e, params) from None
            except botocore.exceptions.NoCredentialsError:
                raise AwsError(
                    action,
                    f"no AWS credentials for {action}: boto3's standard chain found none "
                    "(AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws/credentials, "
                    "SSO, a container or instance role)",
                ) from None
            except botocore.exceptions.NoRegionError:
                raise AwsError(
                    action, f"no AWS region for {action}: set AWS_REGION (or --region)"
                ) from None
            except botocore.exceptions.BotoCoreError as e:
                raise AwsError(action, f"{action} failed: {e}") from None
        raise AssertionError("unreachable: the last attempt returns or raises")

    def pages(
        self, service: str, operation: str, token: str = "nextToken", **params: Any
    ) -> Iterator[dict[str, Any]]:
        """Every page of a paginated call, following `token` (the name the API gives it both
        ways) until a page comes without one."""
        given = None
        for _ in range(PAGES_MAX):
            page = self.call(service, operation, **params, **({token: given} if given else {}))
            yield page
            given = page.get(token)
            if not given:
                return


def _explain(
    action: str, code: str, e: botocore.exceptions.ClientError, params: dict[str, Any]
) -> AwsError:
    message = _message(e)
    status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    # 403 without a code botocore could read is a refusal too (an endpoint answering another
    # protocol's error document: moto's IAM check does).
    if code in DENIED or (status == 403 and code not in BAD_CREDENTIALS):
        return AwsError(
            action,
            f"not allowed: {action} was denied ({message}); grant {action} to the caller "
            "(loadtests/cloudview/README.md lists the policy)",
        )
    if code in BAD_CREDENTIALS:
        return AwsError(
            action, f"the AWS credentials were refused for {action} ({code}: {message})"
        )
    if code == "ResourceNotFoundException" and action.startswith("logs:"):
        group = params.get("logGroupName", "?")
        return MissingLogGroup(
            action,
            f"log group {group} does not exist ({action}: {message}); check the service ARN "
            "(or LOG_GROUP) and the region, and that the service has written logs",
        )
    if code in THROTTLING:
        return AwsError(action, f"{action} still throttled after every retry ({code}: {message})")
    return AwsError(action, f"{action} failed ({code}: {message})")


def _message(e: botocore.exceptions.ClientError) -> str:
    """The error's message; from an XML error document, its <Message> text alone."""
    text = str(e.response.get("Error", {}).get("Message", "")) or str(e)
    found = re.search(r"<Message>(.*?)</Message>", text, re.S)
    return found.group(1).strip() if found else text
