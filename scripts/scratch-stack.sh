# Sourced by the benchmark scripts. `scratch_stack LOW` makes a scratch directory holding a .env
# (mode 0600) for an embedded stack on ports base, base+1, base+2 (base picked at random in
# LOW..LOW+1999), with the dev user `verify --flow auth-code` logs in as; enters it, and on exit
# runs `clean --all` there and removes it.
# Needs $bin (the binary); sets $work and $base.
scratch_stack() {
  work=$(mktemp -d)
  trap '(cd "$work" && "$bin" clean --all >/dev/null 2>&1) || true; rm -rf "$work"' EXIT
  base=$(($1 + RANDOM % 2000))
  cat > "$work/.env" <<ENV
AUTHPLANE_SERVER_ISSUER=http://localhost:$base
AUTHPLANE_ISSUER=http://localhost:$base
AUTHPLANE_SERVER_ADDRESS=:$base
AUTHPLANE_ADMIN_ADDRESS=:$((base + 1))
AUTHPLANE_BASE_URL=http://localhost:$((base + 2))
PORT=$((base + 2))
AUTHPLANE_ADMIN_API_KEY=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
AUTHPLANE_DEV_AS=embedded
AUTHPLANE_DEV_USER_EMAIL=dev@localhost.test
AUTHPLANE_DEV_USER_PASSWORD=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
ENV
  chmod 600 "$work/.env"
  cd "$work"
}
