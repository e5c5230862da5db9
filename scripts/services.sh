#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) answer:
# start local ones where installed, else through Docker where it works, else
# say exactly what to install.
set -euo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_up() {
  for _ in $(seq 1 50); do up "$1" && return 0; sleep 0.2; done
  return 1
}
docker_works() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

if ! up 5432; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL (pg_ctlcluster)"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  elif docker_works; then
    echo "starting PostgreSQL (docker compose)"
    docker compose up -d postgres
  else
    echo "PostgreSQL is not answering on 127.0.0.1:5432 and cannot be started here." >&2
    echo "Install it (Debian/Ubuntu: apt-get install postgresql) with trust auth for user postgres," >&2
    echo "or install Docker and run: docker compose up -d postgres redis" >&2
    exit 1
  fi
  wait_up 5432 || { echo "PostgreSQL did not come up on 127.0.0.1:5432" >&2; exit 1; }
fi

if ! up 6379; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "starting Redis (redis-server)"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  elif docker_works; then
    echo "starting Redis (docker compose)"
    docker compose up -d redis
  else
    echo "Redis is not answering on 127.0.0.1:6379 and cannot be started here." >&2
    echo "Install it (Debian/Ubuntu: apt-get install redis-server)," >&2
    echo "or install Docker and run: docker compose up -d postgres redis" >&2
    exit 1
  fi
  wait_up 6379 || { echo "Redis did not come up on 127.0.0.1:6379" >&2; exit 1; }
fi
