# Provides the interface target xmpp_wolfssl.
# Default: the lean static wolfSSL built from Debian's source package by
# scripts/build-wolfssl.sh and cached outside the build tree.
# -DXMPPD_SYSTEM_WOLFSSL=ON: Debian's binary libwolfssl-dev instead.
add_library(xmpp_wolfssl INTERFACE)
if(XMPPD_SYSTEM_WOLFSSL)
  pkg_check_modules(WOLFSSL REQUIRED IMPORTED_TARGET wolfssl)
  target_link_libraries(xmpp_wolfssl INTERFACE PkgConfig::WOLFSSL)
  target_compile_definitions(xmpp_wolfssl INTERFACE XMPPD_SYSTEM_WOLFSSL=1)
else()
  execute_process(
    COMMAND bash ${CMAKE_SOURCE_DIR}/scripts/build-wolfssl.sh
    OUTPUT_VARIABLE WOLFSSL_PREFIX OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE _wolf_rc)
  if(NOT _wolf_rc EQUAL 0)
    message(FATAL_ERROR "building the lean wolfSSL failed (scripts/build-wolfssl.sh)")
  endif()
  message(STATUS "lean wolfSSL: ${WOLFSSL_PREFIX}")
  target_include_directories(xmpp_wolfssl SYSTEM BEFORE INTERFACE ${WOLFSSL_PREFIX}/include)
  # wolfCrypt's random source (CUSTOM_RAND_GENERATE_BLOCK in that build):
  # linked after libwolfssl.a, which is what calls it.
  add_library(xmpp_wolfssl_rng STATIC ${CMAKE_SOURCE_DIR}/tls/rng/getrandom_block.c)
  target_link_libraries(xmpp_wolfssl INTERFACE ${WOLFSSL_PREFIX}/lib/libwolfssl.a xmpp_wolfssl_rng m)
  # scripts/wolfssl-traffic-secrets.patch is applied to this build
  target_compile_definitions(xmpp_wolfssl INTERFACE XMPPD_WOLFSSL_TRAFFIC_SECRETS=1)
endif()
