# The Swift package dependencies of Package.swift, built from their sources with their own CMake
# projects (both packages ship one). No FetchContent and no download step: each source folder is
# either given (-D<VAR>_SOURCE_DIR=PATH, for example a SwiftPM checkout under
# .build/checkouts/) or cloned once at configure time, at the pinned tag, into
# <build>/_deps/ by git, which honours the machine's url.<base>.insteadOf mirrors (this is how
# an offline machine resolves https://github.com/... from a local mirror, as SwiftPM does).

find_package(Git)

# rewardflow_swift_package(VAR NAME URL TAG): sets VAR_SOURCE_DIR (cache) to the package's source.
function(rewardflow_swift_package var name url tag)
  set(${var}_SOURCE_DIR "" CACHE PATH "Source folder of ${name} ${tag} (empty: git clone ${url} at ${tag})")
  if(${var}_SOURCE_DIR)
    set(dir "${${var}_SOURCE_DIR}")
  else()
    set(dir "${CMAKE_BINARY_DIR}/_deps/${name}-${tag}")
    if(NOT EXISTS "${dir}/CMakeLists.txt")
      if(NOT GIT_FOUND)
        message(FATAL_ERROR "${name}: git is needed to clone ${url} (or pass -D${var}_SOURCE_DIR=PATH)")
      endif()
      file(REMOVE_RECURSE "${dir}")
      execute_process(
        COMMAND "${GIT_EXECUTABLE}" -c advice.detachedHead=false clone --quiet --depth 1 --branch ${tag} ${url} "${dir}"
        RESULT_VARIABLE status ERROR_VARIABLE error)
      if(NOT status EQUAL 0)
        message(FATAL_ERROR "${name}: git clone ${url} (tag ${tag}) failed: ${error}\n"
          "Pass -D${var}_SOURCE_DIR=PATH to a checkout of ${name} ${tag}.")
      endif()
    endif()
  endif()
  if(NOT EXISTS "${dir}/CMakeLists.txt")
    message(FATAL_ERROR "${name}: ${dir} holds no CMakeLists.txt")
  endif()
  set(${var}_DIR_RESOLVED "${dir}" PARENT_SCOPE)
endfunction()

# Static libraries only, and none of the packages' own tests or examples.
if(DEFINED BUILD_TESTING)
  set(REWARDFLOW_SAVED_BUILD_TESTING ${BUILD_TESTING})
endif()
set(BUILD_SHARED_LIBS OFF)
set(BUILD_TESTING OFF)
set(BUILD_EXAMPLES OFF)

rewardflow_swift_package(REWARDFLOW_ARGUMENT_PARSER swift-argument-parser
  https://github.com/apple/swift-argument-parser 1.8.2)
add_subdirectory("${REWARDFLOW_ARGUMENT_PARSER_DIR_RESOLVED}" "${CMAKE_BINARY_DIR}/_deps/swift-argument-parser-build" EXCLUDE_FROM_ALL)

rewardflow_swift_package(REWARDFLOW_SWIFT_SYSTEM swift-system
  https://github.com/apple/swift-system 1.8.1)
add_subdirectory("${REWARDFLOW_SWIFT_SYSTEM_DIR_RESOLVED}" "${CMAKE_BINARY_DIR}/_deps/swift-system-build" EXCLUDE_FROM_ALL)
# Position-independent: SystemPackage is linked into librewardflow.so.
set_target_properties(SystemPackage CSystem PROPERTIES POSITION_INDEPENDENT_CODE ON)

if(DEFINED REWARDFLOW_SAVED_BUILD_TESTING)
  set(BUILD_TESTING ${REWARDFLOW_SAVED_BUILD_TESTING})
else()
  unset(BUILD_TESTING)
endif()
unset(BUILD_SHARED_LIBS)
unset(BUILD_EXAMPLES)
