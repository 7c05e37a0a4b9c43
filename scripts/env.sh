# Sourced by the other scripts: the PATH every build and test step needs.
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
