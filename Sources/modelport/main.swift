runModelPort()
