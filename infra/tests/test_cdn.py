"""Issue 12 point 3 on the parsed Terraform: `cdn_enabled` puts CloudFront in front of either
platform, keyed on path and query string with TTLs from the origin's Cache-Control, the X-Echo-*
headers forwarded (and keyed) only when asked, HTTPS to the origin, and a URL output that
make loadtest accepts. (Arguments and blocks are checked against the AWS schema elsewhere.)"""

from __future__ import annotations

from infra.tests.conftest import INFRA


def res(stack, rtype, name="this"):
    return stack["resource"][rtype][name]


def one(body, key):
    value = body[key]
    assert isinstance(value, list) and len(value) == 1, key
    return value[0]


def test_off_by_default_and_in_front_of_either_platform(stack):
    assert stack["variable"]["cdn_enabled"]["default"] is False
    assert stack["locals"]["deploy_cdn"] == "${var.cdn_enabled && var.create_service}"
    for rtype in (
        "aws_cloudfront_cache_policy",
        "aws_cloudfront_origin_request_policy",
        "aws_cloudfront_distribution",
    ):
        assert res(stack, rtype)["count"] == "${local.deploy_cdn ? 1 : 0}", rtype
    # The origin is the home region's service URL, whichever platform produced it.
    assert "local.service_urls[var.aws_region]" in stack["locals"]["cdn_origin"]
    assert (
        'trimprefix(local.service_urls[var.aws_region], "https://")'
        in stack["locals"]["cdn_origin"]
    )


def test_cache_policy_keys_on_the_query_and_honours_cache_control(stack):
    policy = res(stack, "aws_cloudfront_cache_policy")
    assert policy["min_ttl"] == 0 and policy["default_ttl"] == 0
    assert policy["max_ttl"] == "${var.cdn_max_ttl}"
    params = one(policy, "parameters_in_cache_key_and_forwarded_to_origin")
    assert one(params, "query_strings_config") == {"query_string_behavior": "all"}
    assert one(params, "cookies_config") == {"cookie_behavior": "none"}


def test_echo_headers_forwarded_and_keyed_only_when_asked(stack):
    assert stack["variable"]["cdn_forward_echo_headers"]["default"] is False
    assert (
        stack["locals"]["cdn_headers"]
        == "${var.cdn_forward_echo_headers ? var.cdn_echo_headers : []}"
    )
    names = stack["variable"]["cdn_echo_headers"]["default"]
    assert {"X-Echo-Delay", "X-Echo-Cpu", "X-Echo-Status", "X-Echo-Size", "X-Echo-Seed"} <= set(
        names
    )
    cache_headers = one(
        one(
            res(stack, "aws_cloudfront_cache_policy"),
            "parameters_in_cache_key_and_forwarded_to_origin",
        ),
        "headers_config",
    )
    origin_headers = one(res(stack, "aws_cloudfront_origin_request_policy"), "headers_config")
    for headers in (cache_headers, origin_headers):
        assert (
            headers["header_behavior"] == '${length(local.cdn_headers) > 0 ? "whitelist" : "none"}'
        )
        assert headers["dynamic"][0]["headers"]["content"][0]["items"] == "${headers.value}"
    # The why is written next to the switch.
    assert "Keying on it splits the cache" in (INFRA / "cdn.tf").read_text()


def test_https_to_the_origin_and_the_service_answers_every_method(stack):
    dist = res(stack, "aws_cloudfront_distribution")
    origin = one(one(dist, "origin"), "custom_origin_config")
    assert origin["origin_protocol_policy"] == "https-only"
    assert origin["origin_ssl_protocols"] == ["TLSv1.2"]
    behavior = one(dist, "default_cache_behavior")
    assert behavior["viewer_protocol_policy"] == "redirect-to-https"
    assert behavior["cache_policy_id"] == "${aws_cloudfront_cache_policy.this[0].id}"
    assert (
        behavior["origin_request_policy_id"] == "${aws_cloudfront_origin_request_policy.this[0].id}"
    )
    assert (
        set(behavior["cached_methods"]) == {"GET", "HEAD"} and "POST" in behavior["allowed_methods"]
    )


def test_cdn_url_output_is_a_plain_https_base_url(stack):
    # make loadtest takes TARGET as a base URL: scheme and host, no path.
    value = stack["output"]["cdn_url"]["value"]
    assert (
        value
        == '${local.deploy_cdn ? "https://${aws_cloudfront_distribution.this[0].domain_name}" : null}'
    )
