# Turns every file under src/web/static into a C++ array, so that the binary
# serves the dashboard with no files beside it (works offline, nothing to deploy),
# and the JavaScript client (clients/js) beside it at /freshet.js, the same
# file the dashboard imports and npm packs: one implementation; and the
# OpenAPI document (docs/openapi.json) for GET /api/openapi.json.
function(freshet_embed_web out_cpp)
  file(GLOB_RECURSE web_files CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/web/static/*)
  set(client ${PROJECT_SOURCE_DIR}/clients/js/freshet.js ${PROJECT_SOURCE_DIR}/clients/js/freshet.d.ts)
  add_custom_command(
    OUTPUT ${out_cpp}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out_cpp} -DROOT=${PROJECT_SOURCE_DIR}/src/web/static
            -DEXTRA=${PROJECT_SOURCE_DIR}/clients/js -DOPENAPI=${PROJECT_SOURCE_DIR}/docs/openapi.json
            -P ${PROJECT_SOURCE_DIR}/cmake/embed_web_run.cmake
    DEPENDS ${web_files} ${client} ${PROJECT_SOURCE_DIR}/docs/openapi.json ${PROJECT_SOURCE_DIR}/cmake/embed_web_run.cmake
    COMMENT "Embedding the dashboard's static files")
endfunction()
