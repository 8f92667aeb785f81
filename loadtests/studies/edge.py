"""The CDN edge of the cdn study: nginx from Debian with `proxy_cache`, configured as CloudFront's
cache policy in infra/ is: the key is the path and query (every knob combination is its own
object), the origin's `Cache-Control` decides what is kept and for how long, an expired object is
revalidated with the origin (`If-None-Match` -> 304), and concurrent misses for one object send one
request to the origin. Each answer says how it was served in `X-Cache-Status` (HIT, MISS, EXPIRED,
REVALIDATED, …), which the analysis reads as the cache status.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

TEMPLATE = """\
# Written by loadtests/studies/edge.py for one study run; removed with the run's work folder.
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    proxy_cache_path {work}/cache levels=1:2 keys_zone=edge:10m max_size=256m inactive=10m use_temp_path=off;
    upstream origin {{
        server {origin};
        keepalive 64;
    }}
    server {{
        listen {listen};
        location / {{
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache edge;
            proxy_cache_key $request_method$request_uri;
            proxy_cache_lock on;
            proxy_cache_revalidate on;
            add_header X-Cache-Status $upstream_cache_status always;
        }}
    }}
}}
"""


def write_config(work: Path, listen: str, origin: str) -> Path:
    """nginx.conf for an edge listening on `listen` (host:port) in front of `origin` (host:port)."""
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi", "cache"):
        (work / sub).mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            # nginx's workers drop to `nobody` when started as root; they write the cache.
            nobody = pwd.getpwnam("nobody")
            os.chown(work / sub, nobody.pw_uid, nobody.pw_gid)
    path = work / "nginx.conf"
    path.write_text(TEMPLATE.format(work=work, listen=listen, origin=origin))
    return path
