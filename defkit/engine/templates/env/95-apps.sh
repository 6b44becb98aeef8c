#!/bin/sh
# defkit: the environment of the SCIF app selected with --app, if any.

_defkit_app="${APPTAINER_APPNAME:-${SINGULARITY_APPNAME:-}}"
if [ -n "$_defkit_app" ]; then
    APPTAINER_APPNAME="$_defkit_app"
    export APPTAINER_APPNAME

    if [ -d "/scif/apps/$_defkit_app/" ]; then
        SCIF_APPS="/scif/apps"
        SCIF_APPROOT="/scif/apps/$_defkit_app"
        export SCIF_APPROOT SCIF_APPS
        PATH="/scif/apps/$_defkit_app:/scif/apps/singularity:$PATH"

        # The app's bin and lib come first.
        if [ -d "/scif/apps/$_defkit_app/bin" ]; then
            PATH="/scif/apps/$_defkit_app/bin:$PATH"
        elif [ -d "/scif/apps/singularity/bin" ]; then
            PATH="/scif/apps/singularity/bin:$PATH"
        fi
        if [ -d "/scif/apps/$_defkit_app/lib" ]; then
            LD_LIBRARY_PATH="/scif/apps/$_defkit_app/lib:$LD_LIBRARY_PATH"
            export LD_LIBRARY_PATH
        elif [ -d "/scif/apps/singularity/lib" ]; then
            LD_LIBRARY_PATH="/scif/apps/singularity/lib:$LD_LIBRARY_PATH"
            export LD_LIBRARY_PATH
        fi

        for _defkit_file in 01-base.sh 90-environment.sh; do
            if [ -f "/scif/apps/$_defkit_app/scif/env/$_defkit_file" ]; then
                . "/scif/apps/$_defkit_app/scif/env/$_defkit_file"
            elif [ -f "/scif/apps/singularity/scif/env/$_defkit_file" ]; then
                . "/scif/apps/singularity/scif/env/$_defkit_file"
            fi
        done

        export PATH
    else
        echo "Could not locate the container application: $_defkit_app"
        exit 1
    fi
fi
unset _defkit_app _defkit_file
