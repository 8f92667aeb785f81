# Optional CloudFront distribution in front of the service (either platform; with several
# regions, the home region's), for the CDN study: how much a cache near the user cuts latency.
#
# What CloudFront keys on decides what a study measures. Every knob travels in the query string,
# so the cache key is the path plus the whole query string: each knob combination is its own
# object, and the origin's Cache-Control (the service's `cache` knob, e.g. cache=60s) decides
# whether and how long it is cached. With no Cache-Control the default TTL of 0 means "not
# cached", which is what the service answers without the knob.

locals {
  deploy_cdn = var.cdn_enabled && var.create_service
  cdn_origin = local.deploy_cdn ? trimsuffix(trimprefix(local.service_urls[var.aws_region], "https://"), "/") : null

  # Forwarding a header that changes the answer without keying on it would let CloudFront serve
  # the answer for one X-Echo-Delay to a request with another. Keying on it splits the cache: one
  # object per combination of header values, so a lower hit ratio for the same traffic. The
  # query string already carries every knob, hence off unless cdn_forward_echo_headers asks.
  cdn_headers = var.cdn_forward_echo_headers ? var.cdn_echo_headers : []
}

resource "aws_cloudfront_cache_policy" "this" {
  count = local.deploy_cdn ? 1 : 0

  name    = "${var.name}-query-key"
  comment = "delay-echo: key on path and query string, honour the origin's Cache-Control"

  # min 0 lets the origin's max-age=0 / no-store win; default 0 caches nothing the origin did
  # not mark cacheable; max caps what a long max-age can keep.
  min_ttl     = 0
  default_ttl = 0
  max_ttl     = var.cdn_max_ttl

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_gzip   = true
    enable_accept_encoding_brotli = true

    query_strings_config {
      query_string_behavior = "all"
    }

    headers_config {
      header_behavior = length(local.cdn_headers) > 0 ? "whitelist" : "none"

      dynamic "headers" {
        for_each = length(local.cdn_headers) > 0 ? [local.cdn_headers] : []
        content {
          items = headers.value
        }
      }
    }

    cookies_config {
      cookie_behavior = "none"
    }
  }
}

resource "aws_cloudfront_origin_request_policy" "this" {
  count = local.deploy_cdn ? 1 : 0

  name    = "${var.name}-origin"
  comment = "delay-echo: the query string, and the X-Echo-* knob headers only when asked"

  query_strings_config {
    query_string_behavior = "all"
  }

  # The same list as the cache key above: a header forwarded here but not keyed there would be
  # answered from another header value's cached object (see local.cdn_headers).
  headers_config {
    header_behavior = length(local.cdn_headers) > 0 ? "whitelist" : "none"

    dynamic "headers" {
      for_each = length(local.cdn_headers) > 0 ? [local.cdn_headers] : []
      content {
        items = headers.value
      }
    }
  }

  cookies_config {
    cookie_behavior = "none"
  }
}

resource "aws_cloudfront_distribution" "this" {
  count = local.deploy_cdn ? 1 : 0

  #checkov:skip=CKV_AWS_68:A synthetic echo service for latency studies; a WAF would add its own latency and cost to what the study measures.
  #checkov:skip=CKV2_AWS_47:No WAF in front of the echo service (see CKV_AWS_68): it runs no Java and logs nothing a Log4j payload could reach.
  #checkov:skip=CKV_AWS_86:Access logs would need an S3 bucket with its own policy; the load generator records every request of a study already.
  #checkov:skip=CKV_AWS_174:The default *.cloudfront.net certificate cannot set a minimum TLS version; a custom domain with its own ACM certificate is out of this study stack.
  #checkov:skip=CKV2_AWS_42:The default *.cloudfront.net certificate is used on purpose: the study needs no custom domain.
  #checkov:skip=CKV2_AWS_32:The echo service's own response headers are what studies inspect; a response headers policy would add or rewrite some.
  #checkov:skip=CKV_AWS_310:One origin by design: failing over to another would hide the origin errors a study measures.
  #checkov:skip=CKV_AWS_374:Studies compare users in many regions; a geo restriction would refuse some of the clients a study measures.
  #checkov:skip=CKV_AWS_305:The origin answers every path itself; a default root object would rewrite / to another path.
  enabled         = true
  comment         = "${var.name}: CloudFront in front of the ${var.platform} service"
  price_class     = var.cdn_price_class
  http_version    = "http2and3"
  is_ipv6_enabled = true

  origin {
    origin_id   = "service"
    domain_name = local.cdn_origin

    custom_origin_config {
      http_port                = 80
      https_port               = 443
      origin_protocol_policy   = "https-only"
      origin_ssl_protocols     = ["TLSv1.2"]
      origin_read_timeout      = var.cdn_origin_read_timeout
      origin_keepalive_timeout = 60
    }
  }

  default_cache_behavior {
    target_origin_id         = "service"
    viewer_protocol_policy   = "redirect-to-https"
    allowed_methods          = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
    cached_methods           = ["GET", "HEAD"]
    compress                 = true
    cache_policy_id          = aws_cloudfront_cache_policy.this[0].id
    origin_request_policy_id = aws_cloudfront_origin_request_policy.this[0].id
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = true
  }
}
