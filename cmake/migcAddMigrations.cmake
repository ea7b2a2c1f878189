# add_migrations(<target> DIRECTORY <dir> [NAME <symbol>])
#
# Compiles the migrations in <dir> into a C catalog at build time and adds
# it to <target>: the generated source and header (include
# "<symbol>.h"), and a link to migc::runtime.  <symbol> defaults to
# <target>_migrations (made a C identifier).
#
# migc runs again whenever a migration is edited, added or removed, on a
# plain `cmake --build` (Ninja: from the depfile migc writes; Makefiles:
# from a CONFIGURE_DEPENDS glob).  An unchanged rebuild does nothing.  A rebuilt migc
# regenerates too: the migc target is in both COMMAND and DEPENDS.
#
# Works the same after add_subdirectory(), FetchContent and
# find_package(migc): the targets are migc::migc and migc::runtime.
include_guard(GLOBAL)

function(add_migrations target)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "DIRECTORY;NAME" "")
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR
            "add_migrations(${target}): unexpected arguments: "
            "${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT TARGET ${target})
    message(FATAL_ERROR "add_migrations(${target}): no such target")
  endif()
  if(NOT ARG_DIRECTORY)
    message(FATAL_ERROR "add_migrations(${target}): DIRECTORY is required")
  endif()
  if(NOT ARG_NAME)
    string(MAKE_C_IDENTIFIER "${target}_migrations" ARG_NAME)
  endif()
  get_filename_component(dir "${ARG_DIRECTORY}" ABSOLUTE
                         BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  if(NOT IS_DIRECTORY "${dir}")
    message(FATAL_ERROR
            "add_migrations(${target}): ${ARG_DIRECTORY} is not a folder")
  endif()

  set(outdir "${CMAKE_CURRENT_BINARY_DIR}/migc/${target}")
  set(source "${outdir}/${ARG_NAME}.c")
  set(header "${outdir}/${ARG_NAME}.h")
  set(depfile "${outdir}/${ARG_NAME}.d")
  file(MAKE_DIRECTORY "${outdir}")

  if(CMAKE_GENERATOR MATCHES "Ninja")
    # migc's depfile names the folder and every migration; an unchanged
    # output is left untouched and Ninja's restat skips what depends on it.
    add_custom_command(
      OUTPUT "${source}" "${header}"
      COMMAND "$<TARGET_FILE:migc::migc>" compile "${dir}" -o "${source}"
              --header "${header}" --name "${ARG_NAME}" --depfile "${depfile}"
      DEPENDS migc::migc "${dir}"
      DEPFILE "${depfile}"
      COMMENT "Compiling migrations in ${ARG_DIRECTORY}"
      VERBATIM)
  else()
    # The Makefile generators keep depfile entries of removed files
    # forever (and rebuild on every run), so the folder's files are listed
    # with a glob that the build itself re-checks (CONFIGURE_DEPENDS: an
    # added or removed file re-runs CMake on the next build).  Make judges
    # by time stamps, so the outputs are touched after each run.
    file(GLOB files CONFIGURE_DEPENDS "${dir}/*")
    add_custom_command(
      OUTPUT "${source}" "${header}"
      COMMAND "$<TARGET_FILE:migc::migc>" compile "${dir}" -o "${source}"
              --header "${header}" --name "${ARG_NAME}"
      COMMAND "${CMAKE_COMMAND}" -E touch_nocreate "${source}" "${header}"
      DEPENDS migc::migc "${dir}" ${files}
      COMMENT "Compiling migrations in ${ARG_DIRECTORY}"
      VERBATIM)
  endif()
  target_sources(${target} PRIVATE "${source}" "${header}")
  target_include_directories(${target} PRIVATE "${outdir}")
  target_link_libraries(${target} PRIVATE migc::runtime)
endfunction()
