// The names enums cross the JS boundary with. Each enum's table lives beside the enum; the addon exports
// every table (binding/constants.cc) and lib/native.ts checks them against its own unions at load, which
// also catches a stale prebuilt binary.
#pragma once

namespace nsa {

template <class E>
struct EnumName {
  const char* name;
  E value;
};

}  // namespace nsa
